each([10, 20, 30], fn((state) => {
  state.total = (state.total || 0) + state.data;
  return state;
}));
