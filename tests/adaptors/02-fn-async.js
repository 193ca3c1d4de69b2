fn(async (state) => {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { ...state, waited: true };
});
fn((state) => ({ ...state, count: (state.count || 0) + 1 }));
