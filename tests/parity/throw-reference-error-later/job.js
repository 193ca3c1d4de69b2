fn(s => {
  const n = 1;
  return { ...s, n: n + missingValue };
});
