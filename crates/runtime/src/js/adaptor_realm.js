// Adaptor realm prelude: evaluated once per run in the adaptor context before the adaptor host
// sets it up. Gives adaptor code a console (ADA lines) and V8-style stack traces, and latches
// out-of-memory errors so that no code can catch one and carry on.
// `common` is realm_common.js.
(function (host, common) {
  'use strict';
  const toTag = (v) => Object.prototype.toString.call(v);
  // While `rawFrames` is set, stacks are the call sites themselves (for the code generation
  // guard below), not text.
  let rawFrames = false;
  function prepareStackTraceOrFrames(err, callsites) {
    return rawFrames ? callsites : common.formatStack(err, callsites);
  }
  common.lockPrepareStackTrace(prepareStackTraceOrFrames);

  // ---- code generation from strings: allowed only to the libraries that need it.
  // Job code holds adaptor functions and objects, and so could reach this realm's function
  // constructors (`someAdaptorFn.constructor('…')`) or call a library's own code generator with
  // its own string (lodash's `_.template`). So:
  // - the `constructor` of every function prototype here (`Function`, `AsyncFunction`,
  //   `GeneratorFunction`, `AsyncGeneratorFunction`) is a stub that always throws;
  // - the realm's global `Function` and `eval` generate code only when the nearest non-native
  //   caller is a file of an allowed library (`host.codegenAllowed(file)`: ajv, which compiles
  //   JSON schemas with `new Function`). Any other caller (job code, other adaptor code, a
  //   callback run by a built-in or a promise job) is refused.
  // Refusals throw the EvalError V8 throws when code generation is off; the runtime reports
  // it as SecurityError. The caller's file comes from the engine's call sites, which job code
  // cannot forge (its module name is fixed by the runtime).
  const reflectConstruct = Reflect.construct;
  const reflectApply = Reflect.apply;
  // captured now: adaptor code may replace the globals later
  const ErrorCtor = Error;
  const captureStackTrace = Error.captureStackTrace;
  const limitDesc = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit');
  const evalError = common.evalError;
  function callerAllowed(guard) {
    const holder = {};
    const savedLimit = limitDesc.get.call(ErrorCtor);
    rawFrames = true;
    try {
      limitDesc.set.call(ErrorCtor, 16);
      captureStackTrace(holder, guard);
    } finally {
      rawFrames = false;
      limitDesc.set.call(ErrorCtor, savedLimit);
    }
    const frames = holder.stack;
    if (!frames || typeof frames !== 'object') return false;
    for (let i = 0; i < frames.length; i++) {
      const cs = frames[i];
      if (cs.isNative()) continue;
      const file = cs.getFileName();
      return typeof file === 'string' && host.codegenAllowed(file) === true;
    }
    return false;
  }
  common.blockFunctionConstructors();
  const RealFunction = Function;
  const GuardedFunction = {
    Function: function (...args) {
      if (!callerAllowed(GuardedFunction)) throw evalError();
      return new.target === undefined || new.target === GuardedFunction
        ? reflectApply(RealFunction, undefined, args)
        : reflectConstruct(RealFunction, args, new.target);
    },
  }.Function;
  GuardedFunction.prototype = RealFunction.prototype;
  const realEval = globalThis.eval;
  const GuardedEval = {
    eval: function (code) {
      if (!callerAllowed(GuardedEval)) throw evalError();
      return realEval(code);
    },
  }.eval;
  common.lock(globalThis, 'Function', GuardedFunction);
  common.lock(globalThis, 'eval', GuardedEval);

  function safe(args) {
    try {
      return JSON.stringify(args.map((a) => (toTag(a) === '[object Error]' ? { name: a.name, message: a.message } : a)));
    } catch (e) {
      return JSON.stringify(args.map((a) => String(a)));
    }
  }
  const emit = (level) => (...args) => {
    if (args.length === 0 || (args.length === 1 && args[0] === null)) return;
    host.log(level, safe(args));
  };
  globalThis.console = {
    log: emit('info'), info: emit('info'), debug: emit('debug'), trace: emit('debug'),
    warn: emit('warn'), error: emit('error'), success: emit('success'), always: emit('always'),
  };
})
