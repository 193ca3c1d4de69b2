each('$.data.rows[*]', fn((state) => {
  state.pairs = (state.pairs || []).concat([[state.index, state.data.v]]);
  return state;
}));
