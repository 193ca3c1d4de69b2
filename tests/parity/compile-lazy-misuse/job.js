const x = $.data;
fn(s => s);
