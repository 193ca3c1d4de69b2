fn(s => ({ ...s, data: { x: 1 } }));
