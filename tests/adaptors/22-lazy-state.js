each($.data.items, fn((state) => ({ ...state, last: state.data.name })));
fn((state) => ({ ...state, last: state.last, lazy: true }));
