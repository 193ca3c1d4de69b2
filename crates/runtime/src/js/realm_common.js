// What every realm of a run shares (job, adaptor and edge-condition contexts): V8-style stack
// traces, the out-of-memory latch, blocked code generation and the host's `Math.random`.
// Evaluated in each realm and handed to that realm's prelude as `common`.
(function (host) {
  'use strict';
  const defineProperty = Object.defineProperty;
  const getPrototypeOf = Object.getPrototypeOf;

  // ---- error stacks in V8 style: "    at name (file:line:col)" / "    at file:line:col"
  function header(err) {
    let name = 'Error';
    let message = '';
    try {
      name = err && err.name !== undefined ? String(err.name) : 'Error';
      message = err && err.message !== undefined ? String(err.message) : '';
    } catch (e) {}
    return message ? name + ': ' + message : name;
  }
  function formatStack(err, callsites) {
    // QuickJS reports running out of memory as this InternalError: latch it so that no code
    // can catch it and carry on
    if (err && err.name === 'InternalError' && err.message === 'out of memory') host.oom();
    let out = header(err);
    if (!callsites) return out;
    for (const cs of callsites) {
      if (cs.isNative()) continue;
      const file = cs.getFileName();
      if (file === undefined || file === null) continue;
      const line = cs.getLineNumber();
      const col = cs.getColumnNumber();
      const where = file + (line > 0 ? ':' + line + ':' + col : '');
      const fname = cs.getFunctionName();
      out += '\n    at ' + (fname ? fname + ' (' + where + ')' : where);
    }
    return out;
  }
  // Install `fn` as Error.prepareStackTrace for good: later assignments are ignored.
  function lockPrepareStackTrace(fn) {
    Error.prepareStackTrace = fn;
    const d = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
    if (d && d.get) defineProperty(Error, 'prepareStackTrace', { get: d.get, set: function () {}, configurable: false });
  }

  // ---- code generation from strings
  // What V8 throws when code generation is off; the runtime reports it as SecurityError.
  const EvalErrorCtor = EvalError;
  const evalError = () => new EvalErrorCtor('Code generation from strings disallowed for this context');
  const lock = (obj, key, value) =>
    defineProperty(obj, key, { value, writable: false, configurable: false, enumerable: false });
  // The `constructor` of every function prototype (`Function`, `AsyncFunction`,
  // `GeneratorFunction`, `AsyncGeneratorFunction`) becomes a stub of the same name that always
  // throws. Returns the `Function` stub.
  function blockFunctionConstructors() {
    let blockedFunction;
    for (const sample of [function () {}, async function () {}, function* () {}, async function* () {}]) {
      const proto = getPrototypeOf(sample);
      const name = proto.constructor.name;
      const Blocked = { [name]: function () { throw evalError(); } }[name];
      Blocked.prototype = proto;
      lock(proto, 'constructor', Blocked);
      if (blockedFunction === undefined) blockedFunction = Blocked;
    }
    return blockedFunction;
  }
  // No code generation at all: the prototypes' constructors, global `Function` and `eval`.
  function blockCodeGeneration(g) {
    const blockedFunction = blockFunctionConstructors();
    lock(g, 'eval', { eval: function () { throw evalError(); } }.eval);
    lock(g, 'Function', blockedFunction);
  }

  // ---- Math.random from the host: QuickJS seeds a realm's generator when the realm is
  // created, so realms created before a fork (an engine template's) would repeat the same
  // numbers in every forked process. Installed before any realm seals its intrinsics.
  if (typeof host.random === 'function') {
    const hostRandom = host.random;
    defineProperty(Math, 'random', {
      value: { random() { return hostRandom(); } }.random,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }

  return { formatStack, lockPrepareStackTrace, evalError, lock, blockFunctionConstructors, blockCodeGeneration };
})
