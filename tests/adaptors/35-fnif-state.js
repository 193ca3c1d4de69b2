fnIf((state) => state.data.go, fn((state) => ({ ...state, went: true })));
fnIf((state) => !state.data.go, fn((state) => ({ ...state, stayed: true })));
