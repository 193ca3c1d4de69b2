fn((state) => ({ ...state, data: { step: 1 }, references: [...(state.references || []), state.data] }));
fn((state) => ({
  ...state,
  last: lastReferenceValue('step')(state),
  src: sourceValue('$.data.step')(state),
}));
