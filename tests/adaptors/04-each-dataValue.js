fn((state) => ({ ...state, names: [] }));
each('$.data.items[*]', (state) => {
  state.names.push(dataValue('name')(state));
  return state;
});
