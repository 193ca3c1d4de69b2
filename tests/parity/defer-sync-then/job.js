fn(s => ({ ...s, a: 1 }))
  .then(s => { console.log('then ran'); return { ...s, then: true }; });
