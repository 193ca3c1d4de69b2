fn(s => ({ ...s, fromFile: true }));
