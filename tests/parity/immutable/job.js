fn(s => { s.data.x = 2; return s; });
