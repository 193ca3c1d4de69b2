each("$.data.items[*]", fn(s => { console.log(s.data.id); return s; }));
fn(s => ({ ...s, done: true }));
