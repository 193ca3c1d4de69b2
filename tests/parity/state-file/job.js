fn(s => ({ ...s, data: { sum: s.data.a + s.data.b } }));
