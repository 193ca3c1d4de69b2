fn(async (state) => {
  try {
    return await get('/missing')(state);
  } catch (e) {
    return { ...state, error: { message: e.message, statusCode: e.statusCode, body: e.body } };
  }
});
