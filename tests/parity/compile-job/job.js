// header comment
fn(s => ({ ...s, a: 1 }));
each("$.items[*]", fn(s => s));
