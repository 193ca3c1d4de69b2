fn((state) => ({ ...state, data: { n: 2 } })).then((state) => ({ ...state, doubled: state.data.n * 2 }));
