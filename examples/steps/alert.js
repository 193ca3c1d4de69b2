fn(state => ({ ...state, data: { ...state.data, alert: 'the transform step failed' } }));
