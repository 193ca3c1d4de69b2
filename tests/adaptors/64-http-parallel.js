fn(async (state) => {
  const [a, b] = await Promise.all([get('/json')(state), get('/text')(state)]);
  return { ...state, data: { a: a.data, b: b.data } };
});
