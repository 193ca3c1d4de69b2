fn(s => ({ ...s, a: 1 }));
fn(s => ({ ...s, b: s.a + 1 }));
fn(s => { s.c = [s.a, s.b]; return s; });
