get('/json', {}, (state) => ({ ...state, fromCallback: state.data.n }));
