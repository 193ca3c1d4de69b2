fn(s => { console.log("json", { k: 1 }); return { ...s, ok: 1 }; });
