combine(
  fn((state) => ({ ...state, a: 1 })),
  fn((state) => ({ ...state, b: 2 })),
);
fnIf(true, fn((state) => ({ ...state, yes: true })));
fnIf(false, fn((state) => ({ ...state, no: true })));
