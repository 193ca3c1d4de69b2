fn((state) => ({ ...state, before: true }));
fn((state) => ({ ...state, count: state.data.missing.length }));
