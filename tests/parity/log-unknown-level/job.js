fn(s => {
  console.log("info line");
  console.warn("warn line");
  console.error("error line");
  return s;
});
