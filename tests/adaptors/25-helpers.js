fn((state) => ({
  ...state,
  data: {
    asData: asData('$.a', { a: 5 }),
    jv: jsonValue({ a: { b: 1 } }, '$.a.b'),
    split: splitKeys({ a: 1, b: 2, c: 3 }, ['b']),
    human: humanProper('hello world'),
    arr: toArray(1),
    a2s: arrayToString([1, 2], ','),
    chunked: chunk([1, 2, 3, 4, 5], 2),
    emoji: scrubEmojis('hi 😀 there'),
  },
}));
