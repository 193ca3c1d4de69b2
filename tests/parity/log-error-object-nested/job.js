function make() {
  return new Error("from a function");
}
fn(s => {
  console.log(make());
  return s;
});
