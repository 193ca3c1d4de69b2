fn((state) => {
  const copy = JSON.parse(JSON.stringify(state));
  copy.data.items = copy.data.items.filter((i) => i.score > 4);
  return copy;
});
