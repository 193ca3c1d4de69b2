each("$.data.items[*]", fn(s => s));
