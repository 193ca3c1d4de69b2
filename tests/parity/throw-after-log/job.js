fn(s => { console.log("before"); return s; });
fn(s => { throw new RangeError("out of range"); });
fn(s => { console.log("never"); return s; });
