fn((state) => ({
  ...state,
  merged: merge('$.data.groups', fields(field('country', 'NZ'), field('source', 'corpus')))(state),
}));
