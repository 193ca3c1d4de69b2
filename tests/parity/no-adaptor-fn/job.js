fn(s => s);
