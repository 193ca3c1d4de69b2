fn(s => { console.log("obj", { a: 1, b: [1, 2] }); console.log([1, 2, 3]); console.log("plain"); return s; });
