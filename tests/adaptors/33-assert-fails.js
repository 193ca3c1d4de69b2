fn((state) => ({ ...state, before: 1 }));
assert((state) => state.data.ok === true, 'data.ok must be true');
