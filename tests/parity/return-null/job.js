fn(s => null);
