// A first job: `fn` comes from the adaptor given with -a (here language-common).
fn(state => {
  console.log('Hello from OpenFn');
  return { ...state, data: { ...state.data, greeting: `hello ${state.data.name ?? 'world'}` } };
});
