patch('/echo/p', { p: 1 });
fn((state) => ({ ...state, patched: state.data }));
del('/echo/d');
