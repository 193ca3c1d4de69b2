get('/items');
each('$.data.items[*]', fn((state) => {
  state.ids = (state.ids || []).concat(state.data.id);
  return state;
}));
