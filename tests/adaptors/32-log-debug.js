log('hello', $.data.n);
debug('quiet');
fn((state) => ({ ...state, logged: true }));
