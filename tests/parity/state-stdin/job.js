fn(s => ({ ...s, data: { n: s.data.n + 1 } }));
