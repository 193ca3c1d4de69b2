// Builds a built-in whose functions all throw a clear error: the module links (top-level
// imports work) but nothing in it can be used from the adaptor sandbox.
'use strict';
module.exports = function makeStub(name, names, extra) {
  const fail = (fn) => function () {
    const e = new Error(`${name}.${fn} is not available in the OpenFn adaptor sandbox`);
    e.code = 'ERR_NOT_AVAILABLE';
    throw e;
  };
  const obj = {};
  for (const n of names) obj[n] = fail(n);
  return Object.assign(obj, extra || {});
};
