fn(s => { return s;
