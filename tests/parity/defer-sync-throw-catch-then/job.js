fn(s => { throw new Error('sync boom'); })
  .catch((e, s) => { console.log('caught:', e.message); return { ...s, caught: true }; })
  .then(s => { console.log('then ran'); return { ...s, then: true }; });
