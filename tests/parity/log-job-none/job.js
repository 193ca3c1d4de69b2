fn(s => { console.log("job says", { k: 1 }); console.debug("dbg"); return { ...s, ok: 1 }; });
