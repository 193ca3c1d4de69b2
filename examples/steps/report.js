fn(state => ({ ...state, data: { ...state.data, report: `${state.data.adults.length} of ${state.data.patients.length} patients are adults` } }));
