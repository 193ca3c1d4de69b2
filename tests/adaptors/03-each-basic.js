each('$.data.items[*]', fn((state) => {
  state.seen = (state.seen || []).concat(state.data.id);
  return state;
}));
