fn(state => ({ ...state, data: { patients: [{ id: 1, age: 34 }, { id: 2, age: 7 }, { id: 3, age: 61 }] } }));
