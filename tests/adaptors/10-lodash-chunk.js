fn((state) => ({
  ...state,
  data: {
    chunks: _.chunk([1, 2, 3, 4, 5], 2),
    picked: _.pick({ a: 1, b: 2, c: 3 }, ['a', 'c']),
    merged: _.merge({ a: { b: 1 } }, { a: { c: 2 } }),
  },
}));
