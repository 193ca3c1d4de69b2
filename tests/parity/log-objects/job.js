fn(s => {
  console.log({ a: 1, b: { c: [1, 2, 3] } });
  console.log([1, "two", { three: 3 }]);
  console.log("multi", 1, true, null, undefined);
  console.log("nested", { deep: { deeper: { deepest: "x" } } });
  return s;
});
