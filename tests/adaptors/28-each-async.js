each('$.data.items[*]', fn(async (state) => {
  await new Promise((r) => setTimeout(r, 1));
  state.order = (state.order || []).concat(state.data.name);
  return state;
}));
