each($.data.items, fn((state) => ({ ...state, last: state.data.name })));
fn((state) => ({ ...state, count: state.data.items.length }));
