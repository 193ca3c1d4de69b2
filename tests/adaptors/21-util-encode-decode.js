fn((state) => {
  const encoded = util.encode({ a: 1, b: 'héllo' });
  const text = util.encode('plain text', { parseJson: false });
  return {
    ...state,
    data: { encoded, decoded: util.decode(encoded), text, back: util.decode(text, { parseJson: false }) },
  };
});
