fn(s => { throw 'sync boom'; })
  .then(s => { console.log('then ran'); return { ...s, then: true }; })
  .catch((e, s) => { console.log('caught:', e.message); return { ...s, caught: true }; });
