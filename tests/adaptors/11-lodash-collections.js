fn((state) => ({
  ...state,
  grouped: _.groupBy(state.data.items, (i) => (i.score > 4 ? 'high' : 'low')),
  sorted: _.sortBy(state.data.items, 'score').map((i) => i.name),
  uniq: _.uniq([1, 2, 2, 3, 1]),
  sum: _.sumBy(state.data.items, 'score'),
  camel: _.camelCase('hello big world'),
}));
