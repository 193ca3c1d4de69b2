fn(s => { throw new Error("boom"); });
