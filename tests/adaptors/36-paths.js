fn((state) => ({
  ...state,
  dp: dataPath('a.b'),
  rp: referencePath('x'),
  src: sourceValue('$.data.list[1]')(state),
  idx: [1, 2].map((v, i) => i),
}));
