fn((state) => ({
  ...state,
  data: fields(field('a', 1), field('b', 'two'), field('c', [3])),
  single: field('k', { v: true }),
}));
