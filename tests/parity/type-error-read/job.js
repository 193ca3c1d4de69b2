fn(s => s.nope.deeper);
