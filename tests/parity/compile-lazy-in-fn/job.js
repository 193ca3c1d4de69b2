fn(s => $.data);
