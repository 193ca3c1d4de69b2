const m = {"a": [1, {"b": 2}]};
fn(state => { if (state.x) { return state; } else { return {}; } });
