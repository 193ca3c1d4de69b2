// Adaptor realm prelude: evaluated once per run in the adaptor context before the adaptor host
// sets it up. Gives adaptor code a console (ADA lines) and V8-style stack traces, and latches
// out-of-memory errors so that no code can catch one and carry on.
// `common` is realm_common.js.
(function (host, common) {
  'use strict';
  const toTag = (v) => Object.prototype.toString.call(v);
  common.lockPrepareStackTrace(common.formatStack);

  // ---- code generation from strings: allowed only where an adaptor needs it.
  // Job code holds adaptor functions and objects, and so could reach this realm's function
  // constructors (`someAdaptorFn.constructor('…')`) or call a library's own code generator with
  // its own string (lodash's `_.template`). So:
  // - the `constructor` of every function prototype here (`Function`, `AsyncFunction`,
  //   `GeneratorFunction`, `AsyncGeneratorFunction`) is a stub that always throws;
  // - the realm's global `Function` and `eval` generate code only when the host allows the
  //   request's stack (`host.codegenAllowed()` reads the files of its non-native frames,
  //   nearest caller first, from the engine; by default, ajv called by language-common's
  //   `validate`), and only while this realm's intrinsics are as they were when it was set
  //   up. `seal` freezes them then: a job that polluted `Object.prototype` (say with ajv's
  //   `code.process` option) or replaced `JSON.stringify` would otherwise choose the code ajv
  //   generates. Any other request is refused.
  // Refusals throw the EvalError V8 throws when code generation is off; the runtime reports
  // it as SecurityError. The callers' files come from the engine's stack frames, which job
  // code cannot forge (its module name is fixed by the runtime).
  const reflectConstruct = Reflect.construct;
  const reflectApply = Reflect.apply;
  const evalError = common.evalError;
  function callerAllowed() {
    // the host reads the files of the whole stack itself (QuickJS' call sites stop at 64)
    return intrinsicsIntact() && host.codegenAllowed() === true;
  }

  // ---- the realm's intrinsics as set up: every own property (value or accessor pair) of the
  // built-in constructors, their prototypes, the namespaces and iterator prototypes, and the
  // global bindings of their names. Frozen by `seal`, and checked again before every allowed
  // code generation.
  const ownKeys = Reflect.ownKeys;
  const describe = Object.getOwnPropertyDescriptor;
  const protoOf = Object.getPrototypeOf;
  const INTRINSIC_NAMES = [
    'Object', 'Function', 'Array', 'String', 'Number', 'Boolean', 'Symbol', 'BigInt', 'RegExp',
    'Date', 'Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError',
    'Map', 'Set', 'WeakMap', 'WeakSet', 'Promise', 'Proxy', 'ArrayBuffer', 'DataView',
    'Uint8Array', 'JSON', 'Math', 'Reflect', 'parseInt', 'parseFloat', 'isNaN', 'isFinite',
    'encodeURIComponent', 'decodeURIComponent', 'encodeURI', 'decodeURI',
  ];
  let sealed = null;
  function intrinsicObjects() {
    const g = globalThis;
    const objects = [];
    for (const name of INTRINSIC_NAMES) {
      const v = g[name];
      if ((typeof v === 'object' || typeof v === 'function') && v !== null) {
        objects.push(v);
        if (typeof v === 'function' && v.prototype) objects.push(v.prototype);
      }
    }
    const arrayIter = protoOf([][Symbol.iterator]());
    const gen = protoOf(function* () {});
    const agen = protoOf(async function* () {});
    const typed = protoOf(Uint8Array);
    objects.push(arrayIter, protoOf(arrayIter), protoOf(''[Symbol.iterator]()),
      protoOf(new Map().entries()), protoOf(new Set().values()), protoOf('a'.matchAll(/a/g)),
      gen, gen.prototype, agen, agen.prototype, protoOf(async function () {}), typed,
      typed.prototype);
    return objects;
  }
  function record(obj) {
    const keys = ownKeys(obj);
    const descs = [];
    for (let i = 0; i < keys.length; i++) descs[i] = describe(obj, keys[i]);
    return { obj, proto: protoOf(obj), keys, descs };
  }
  function same(a, b) {
    return a === b || (a !== a && b !== b);
  }
  function unchanged(r) {
    if (r.obj === null) return r.check();
    if (protoOf(r.obj) !== r.proto) return false;
    const keys = ownKeys(r.obj);
    if (keys.length !== r.keys.length) return false;
    for (let i = 0; i < keys.length; i++) {
      const d = describe(r.obj, r.keys[i]);
      const s = r.descs[i];
      if (!d || !same(d.value, s.value) || d.get !== s.get || d.set !== s.set) return false;
    }
    return true;
  }
  function intrinsicsIntact() {
    if (sealed === null) return false;
    for (let i = 0; i < sealed.length; i++) {
      if (!unchanged(sealed[i])) return false;
    }
    return true;
  }
  // Called by the runtime once the host has set the realm up, before any adaptor code runs.
  // Properties that code commonly assigns on its own objects although a prototype has them
  // (`this.name = …` in an Error subclass, `X.prototype.toString = …`): on the frozen
  // prototypes they become accessors whose setter defines the property on the receiver, so
  // that such assignments keep working (the "override mistake" SES tames the same way).
  const OVERRIDABLE = new Set(['constructor', 'toString', 'toLocaleString', 'valueOf', 'name',
    'message', 'stack', 'cause', 'code', 'toJSON', 'hasOwnProperty', 'isPrototypeOf',
    'propertyIsEnumerable', 'then']);
  const defineProperty = Object.defineProperty;
  const preventExtensions = Object.preventExtensions;
  function harden(obj, isPrototype) {
    const keys = ownKeys(obj);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const d = describe(obj, key);
      if (!d || !d.configurable) continue;
      if ('value' in d) {
        if (isPrototype && typeof key === 'string' && OVERRIDABLE.has(key)) {
          const value = d.value;
          defineProperty(obj, key, {
            get: { [key]() { return value; } }[key],
            set: {
              [key](v) {
                if (this === obj) throw new TypeError(`Cannot assign to read only property '${key}' of a built-in`);
                defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
              },
            }[key],
            enumerable: d.enumerable,
            configurable: false,
          });
        } else {
          defineProperty(obj, key, { value: d.value, writable: false, enumerable: d.enumerable, configurable: false });
        }
      } else {
        defineProperty(obj, key, { get: d.get, set: d.set, enumerable: d.enumerable, configurable: false });
      }
    }
    preventExtensions(obj);
  }
  function seal() {
    if (sealed !== null) return;
    const globals = { obj: globalThis, names: INTRINSIC_NAMES.slice() };
    // frozen: no job can pollute them (nor adaptor code change them) for the rest of the run
    const objects = intrinsicObjects();
    const prototypes = new Set(objects.filter((o) => typeof o !== 'function' && o !== JSON && o !== Math && o !== Reflect));
    for (const o of objects) harden(o, prototypes.has(o));
    for (const name of INTRINSIC_NAMES) {
      const d = describe(globalThis, name);
      if (d && d.configurable && 'value' in d) {
        defineProperty(globalThis, name, { value: d.value, writable: false, enumerable: d.enumerable, configurable: false });
      }
    }
    sealed = objects.map(record);
    // the global bindings of the intrinsics' names (other globals may come and go)
    const values = globals.names.map((n) => describe(globalThis, n));
    sealed.push({
      obj: null,
      check: () => globals.names.every((n, i) => {
        const d = describe(globalThis, n);
        const s = values[i];
        return !s ? !d : !!d && same(d.value, s.value) && d.get === s.get && d.set === s.set;
      }),
    });
  }
  common.blockFunctionConstructors();
  const RealFunction = Function;
  const GuardedFunction = {
    Function: function (...args) {
      if (!callerAllowed()) throw evalError();
      return new.target === undefined || new.target === GuardedFunction
        ? reflectApply(RealFunction, undefined, args)
        : reflectConstruct(RealFunction, args, new.target);
    },
  }.Function;
  GuardedFunction.prototype = RealFunction.prototype;
  const realEval = globalThis.eval;
  const GuardedEval = {
    eval: function (code) {
      if (!callerAllowed()) throw evalError();
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
  return seal;
})
