fn(s => { console.log("hi"); return { ...s, x: 1 }; });
