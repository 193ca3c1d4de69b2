get('/json').then((state) => ({ ...state, hello: state.data.hello }));
