fn(s => { const class = 1; return s; });
