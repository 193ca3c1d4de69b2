fn(async (state) => {
  try {
    return await post('/fail', { a: 1 })(state);
  } catch (e) {
    return { ...state, error: { message: e.message, statusCode: e.statusCode, body: e.body } };
  }
});
