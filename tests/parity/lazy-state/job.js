fn(s => ({ ...s, copied: true }));
field("name", $.data.name);
