fn(s => {
  console.log("log line");
  console.info("info line");
  console.warn("warn line");
  console.error("error line");
  console.debug("debug line");
  return s;
});
