fn(s => { throw new Error("json boom"); });
