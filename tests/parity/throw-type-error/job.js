fn(s => s.data.missing.deeper);
