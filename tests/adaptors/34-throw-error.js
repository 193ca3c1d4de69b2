fn((state) => {
  throw new Error('something broke');
});
