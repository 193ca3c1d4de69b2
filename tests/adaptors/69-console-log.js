fn((state) => {
  console.log('plain', 1, { nested: { a: [1, 2] } });
  console.info('info line');
  console.warn('warn line', state.data);
  console.error('error line');
  console.debug('debug line');
  return state;
});
log('adaptor log', $.data);
