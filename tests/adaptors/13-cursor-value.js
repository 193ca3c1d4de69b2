cursor('2024-01-02T03:04:05Z');
fn((state) => ({ ...state, seen: state.cursor }));
