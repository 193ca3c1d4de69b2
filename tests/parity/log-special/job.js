fn(s => {
  console.log(new Date(0));
  console.log(42, 3.5, -1);
  console.log("");
  console.log({ s: "str", n: null, b: false });
  return s;
});
