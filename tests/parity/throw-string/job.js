fn(s => { throw "just a string"; });
