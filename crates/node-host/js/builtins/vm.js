// The `vm` built-in, as far as libraries like jsonpath-plus use it: Script#runInNewContext,
// runInNewContext/runInContext/createContext/runInThisContext. Code runs in the adaptor realm
// with the context object's properties in scope (not a separate realm). Code generation is the
// embedder's to allow: the OpenFn runtime refuses it here (only ajv may generate code), so the
// evaluator is made on first use, never at import.
'use strict';
let evaluator;
const evalIn = (ctx, code) => {
  if (evaluator === undefined) evaluator = new Function('__ctx', '__code', 'with (__ctx) { return eval(__code); }');
  return evaluator(ctx, code);
};
const kContext = Symbol('vm.context');
function createContext(obj = {}) { Object.defineProperty(obj, kContext, { value: true }); return obj; }
class Script {
  constructor(code, options) { this.code = String(code); this.options = options; }
  runInNewContext(ctx = {}) { return evalIn(ctx, this.code); }
  runInContext(ctx) { return evalIn(ctx, this.code); }
  runInThisContext() { return (0, eval)(this.code); }
  createCachedData() { return new Uint8Array(0); }
}
module.exports = {
  Script,
  createContext,
  isContext: (o) => !!(o && o[kContext]),
  runInNewContext: (code, ctx) => new Script(code).runInNewContext(ctx),
  runInContext: (code, ctx) => new Script(code).runInContext(ctx),
  runInThisContext: (code) => new Script(code).runInThisContext(),
  compileFunction: (code, params = []) => new Function(...params, code),
};
