fn(s => s);
get($.data.url);
