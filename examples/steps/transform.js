fn(state => {
  const adults = state.data.patients.filter(p => p.age >= 18);
  console.log(`${adults.length} adults`);
  return { ...state, data: { ...state.data, adults } };
});
