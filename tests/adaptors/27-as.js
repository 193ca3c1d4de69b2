as('out', fn((state) => ({ ...state, data: { inner: true } })));
