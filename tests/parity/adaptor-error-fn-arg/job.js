fn("not a function");
