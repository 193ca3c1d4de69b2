fn(s => s);
field("x", $.data.x);
