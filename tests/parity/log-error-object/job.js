fn(s => {
  console.log(new Error("logged error"));
  console.error(new TypeError("typed"));
  return s;
});
