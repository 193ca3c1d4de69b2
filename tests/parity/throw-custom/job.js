class MyError extends Error { constructor(m) { super(m); this.name = "MyError"; } }
fn(s => { throw new MyError("custom"); });
