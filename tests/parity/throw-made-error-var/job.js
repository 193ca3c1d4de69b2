fn(s => {
  const e = new TypeError("made first");
  throw e;
});
