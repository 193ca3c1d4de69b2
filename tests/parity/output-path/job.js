fn(s => ({ ...s, done: true }));
