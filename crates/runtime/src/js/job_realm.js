// Job realm prelude: evaluated once in every fresh job context, before any job code.
// It returns the runtime's private toolkit (never reachable from job code) and installs the
// sandbox globals of the kit runtime (docs/execution.md §2.9). `common` is realm_common.js.
(function (host, common) {
  'use strict';
  const g = globalThis;
  const jsonStringify = JSON.stringify;
  const jsonParse = JSON.parse;
  const freeze = Object.freeze;
  const keys = Object.keys;
  const assign = Object.assign;
  const defineProperty = Object.defineProperty;
  const isArray = Array.isArray;
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const toTag = (v) => Object.prototype.toString.call(v);
  const RealPromise = Promise;
  const realParseInt = parseInt;
  const realParseFloat = parseFloat;
  const NULL_STATE = Symbol('null-state');
  const internal = new WeakSet();

  // ---- JSON cloning with fast-safe-stringify semantics (circular refs -> "[Circular]")
  function safeStringify(value) {
    try {
      return jsonStringify(value);
    } catch (e) {
      if (!(e instanceof TypeError) || !/circular/i.test(String(e.message))) throw e;
    }
    const stack = [];
    return jsonStringify(value, function (key, val) {
      if (typeof val === 'object' && val !== null) {
        while (stack.length && stack[stack.length - 1] !== this) stack.pop();
        if (stack.includes(val)) return '[Circular]';
        stack.push(val);
      }
      return val;
    });
  }

  // ---- V8-style stacks; code generation from strings is disabled
  common.lockPrepareStackTrace(common.formatStack);
  common.blockCodeGeneration(g);

  // ---- console (job logger)
  // The kit's logger serialises an error only when its constructor is named `Error` (its
  // `isError` on sandbox values): `{name, message}`; any other error (a TypeError, a subclass)
  // goes as an object, the JSON of its own enumerable properties.
  function errorCtor(arg) {
    try { return arg.constructor && arg.constructor.name; } catch (e) { return ''; }
  }
  function sanitize(arg) {
    if (toTag(arg) === '[object Error]' && errorCtor(arg) === 'Error') {
      return { name: arg.name, message: arg.message || String(arg) };
    }
    if (arg && typeof arg === 'object' && !isArray(arg) && hasOwn(arg, 'configuration')) {
      const cfg = arg.configuration;
      if (cfg && typeof cfg === 'object') {
        const masked = {};
        for (const k of keys(cfg)) masked[k] = '****';
        return assign({}, arg, { configuration: masked });
      }
    }
    return arg;
  }
  // The kit's text logger (the CLI without --log-json) shows `undefined`, a Date as quoted
  // JSON, an error whose constructor is `Error` as its stack (node's console) and any other
  // error as the JSON of its own properties (`{}`); the JSON logger sends values.
  let consoleText = false;
  // the host's rewrite of a stack into node's (V8 columns, file URLs), for the text logger
  let textStack = null;
  function textArg(arg) {
    if (arg === undefined) return 'undefined';
    if (toTag(arg) === '[object Date]') return jsonStringify(arg, null, 2);
    if (toTag(arg) === '[object Error]') {
      if (errorCtor(arg) === 'Error') {
        const stack = String(arg.stack || arg.name + ': ' + arg.message);
        try { return textStack ? String(textStack(stack)) : stack; } catch (e) { return stack; }
      }
      return assign({}, arg);
    }
    return sanitize(arg);
  }
  function emit(level, args) {
    if (args.length === 0) return;
    if (args.length === 1 && args[0] === null) return;
    let text;
    try {
      text = safeStringify(args.map(consoleText ? textArg : sanitize));
    } catch (e) {
      text = jsonStringify(args.map((a) => String(a)));
    }
    host.log(level, text);
  }
  const consoleObj = {
    log: (...a) => emit('info', a),
    info: (...a) => emit('info', a),
    debug: (...a) => emit('debug', a),
    trace: (...a) => emit('debug', a),
    warn: (...a) => emit('warn', a),
    error: (...a) => emit('error', a),
    success: (...a) => emit('success', a),
    always: (...a) => emit('always', a),
  };

  // ---- timers
  let timerSeq = 0;
  const liveTimers = new Map();
  function describe(v) {
    if (v === undefined || v === null) return 'Received ' + v;
    if (typeof v === 'function') return 'Received function ' + (v.name || 'anonymous');
    if (typeof v === 'object') return 'Received an instance of ' + ((v.constructor && v.constructor.name) || 'Object');
    let shown = typeof v === 'string' ? "'" + v + "'" : String(v);
    if (shown.length > 28) shown = shown.slice(0, 25) + '...';
    return 'Received type ' + typeof v + ' (' + shown + ')';
  }
  function checkCallback(cb) {
    if (typeof cb !== 'function') {
      const e = new TypeError('The "callback" argument must be of type function. ' + describe(cb));
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
  }
  const delay = (ms) => { const n = Number(ms); return n > 0 && n < 2147483648 ? n : 1; };
  function setTimeout(cb, ms, ...args) {
    checkCallback(cb);
    const id = ++timerSeq;
    liveTimers.set(id, true);
    host.sleep(delay(ms)).then(() => { if (liveTimers.delete(id)) cb(...args); });
    return id;
  }
  function setInterval(cb, ms, ...args) {
    checkCallback(cb);
    const id = ++timerSeq;
    liveTimers.set(id, true);
    const tick = () => host.sleep(delay(ms)).then(() => {
      if (!liveTimers.has(id)) return;
      cb(...args);
      tick();
    });
    tick();
    return id;
  }
  function clearTimeout(id) { liveTimers.delete(id); }
  function clearInterval(id) { liveTimers.delete(id); }

  // ---- a small Buffer (job realm only; adaptors get the host's)
  function utf8Encode(str) {
    const out = [];
    for (let i = 0; i < str.length; i++) {
      let c = str.charCodeAt(i);
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < str.length) {
        const d = str.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        else c = 0xfffd;
      } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function utf8Decode(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i++];
      let c;
      if (b < 0x80) c = b;
      else if (b >= 0xc0 && b < 0xe0) c = ((b & 31) << 6) | (bytes[i++] & 63);
      else if (b >= 0xe0 && b < 0xf0) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
      else if (b >= 0xf0) c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
      else c = 0xfffd;
      s += String.fromCodePoint(c);
    }
    return s;
  }
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  function b64Encode(bytes, url) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
      s += i + 1 < bytes.length ? B64[(n >> 6) & 63] : url ? '' : '=';
      s += i + 2 < bytes.length ? B64[n & 63] : url ? '' : '=';
    }
    return url ? s.replace(/\+/g, '-').replace(/\//g, '_') : s;
  }
  function b64Decode(str) {
    const clean = String(str).replace(/-/g, '+').replace(/_/g, '/').replace(/[^A-Za-z0-9+/]/g, '');
    const out = [];
    for (let i = 0; i < clean.length; i += 4) {
      const a = B64.indexOf(clean[i]), b = B64.indexOf(clean[i + 1]);
      const c = i + 2 < clean.length ? B64.indexOf(clean[i + 2]) : -1;
      const d = i + 3 < clean.length ? B64.indexOf(clean[i + 3]) : -1;
      out.push(((a << 2) | (b >> 4)) & 255);
      if (c >= 0) out.push((((b & 15) << 4) | (c >> 2)) & 255);
      if (d >= 0) out.push((((c & 3) << 6) | d) & 255);
    }
    return out;
  }
  function encodeString(str, enc) {
    switch (String(enc || 'utf8').toLowerCase()) {
      case 'hex': {
        const out = [];
        for (let i = 0; i + 1 < str.length; i += 2) {
          const n = parseInt(str.slice(i, i + 2), 16);
          if (Number.isNaN(n)) break;
          out.push(n);
        }
        return out;
      }
      case 'base64': case 'base64url': return b64Decode(str);
      case 'latin1': case 'binary': case 'ascii': return Array.from(str, (ch) => ch.charCodeAt(0) & 255);
      default: return utf8Encode(str);
    }
  }
  class Buffer extends Uint8Array {
    constructor() { throw new TypeError('Do not call Buffer() constructor directly. Use Buffer.from() instead.'); }
    static from(value, encOrOffset, length) {
      let bytes;
      if (typeof value === 'string') bytes = encodeString(value, encOrOffset);
      else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value, encOrOffset || 0, length);
      else if (value && typeof value === 'object' && value.type === 'Buffer' && isArray(value.data)) bytes = value.data;
      else bytes = value;
      return make(bytes);
    }
    static alloc(n, fill) { const b = make(new Uint8Array(n)); if (fill !== undefined) b.fill(typeof fill === 'number' ? fill : 0); return b; }
    static isBuffer(v) { return v instanceof Buffer; }
    static byteLength(s, enc) { return typeof s === 'string' ? encodeString(s, enc).length : s.byteLength; }
    static concat(list) {
      const total = list.reduce((n, b) => n + b.length, 0);
      const out = make(new Uint8Array(total));
      let off = 0;
      for (const b of list) { out.set(b, off); off += b.length; }
      return out;
    }
    toString(enc, start, end) {
      const bytes = this.subarray(start || 0, end === undefined ? this.length : end);
      switch (String(enc || 'utf8').toLowerCase()) {
        case 'hex': return Array.from(bytes, (b) => (b < 16 ? '0' : '') + b.toString(16)).join('');
        case 'base64': return b64Encode(bytes, false);
        case 'base64url': return b64Encode(bytes, true);
        case 'latin1': case 'binary': return Array.from(bytes, (b) => String.fromCharCode(b)).join('');
        case 'ascii': return Array.from(bytes, (b) => String.fromCharCode(b & 127)).join('');
        default: return utf8Decode(bytes);
      }
    }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    static get [Symbol.species]() { return SpeciesBuffer; }
    equals(other) { return this.length === other.length && this.every((b, i) => b === other[i]); }
  }
  function SpeciesBuffer(a, b, c) {
    const arr = new Uint8Array(a, b, c);
    Object.setPrototypeOf(arr, Buffer.prototype);
    return arr;
  }
  function make(bytes) {
    const arr = new Uint8Array(bytes);
    Object.setPrototypeOf(arr, Buffer.prototype);
    return arr;
  }

  // ---- runtime toolkit: state assembly, operations, final state
  function isNullState(s) { return !!(s && typeof s === 'object' && s[NULL_STATE]); }

  // `prev` is the previous state, parsed from its JSON text by the host (undefined: none).
  function assemble(prev, configuration, defaultState, credentials) {
    const initial = prev === undefined ? {} : prev || {};
    // A primitive state (`openfn test` doubles the number 21) passes through as it is, as in
    // the kit, where assembling a primitive leaves it unchanged.
    if (typeof initial !== 'object') return initial;
    const defaults = defaultState || {};
    const obj = assign({}, defaults, initial);
    if (initial.references) obj.references = initial.references;
    if (initial.errors) obj.errors = initial.errors;
    const data = initial.data;
    obj.configuration = assign({}, credentials || {}, initial.configuration || {}, configuration || {});
    obj.data = data && (isArray(data) || typeof data !== 'object') ? data : assign({}, defaults.data, data);
    return obj;
  }

  function install(userGlobals, state) {
    const put = (k, v) => defineProperty(g, k, { value: v, writable: true, configurable: true, enumerable: false });
    if (userGlobals && typeof userGlobals === 'object') {
      for (const k of keys(userGlobals)) {
        const v = userGlobals[k];
        put(k, v && (typeof v === 'object' || typeof v === 'function') ? freeze(v) : v);
      }
    }
    put('console', freeze(consoleObj));
    put('setTimeout', freeze(setTimeout));
    put('clearTimeout', freeze(clearTimeout));
    put('setInterval', freeze(setInterval));
    put('clearInterval', freeze(clearInterval));
    put('parseInt', freeze(realParseInt));
    put('parseFloat', freeze(realParseFloat));
    put('Buffer', freeze(Buffer));
    put('state', state);
  }

  const ADAPTOR_FRAME = /@openfn\/language-|packages\/.+\/dist|vm:module|node_modules/;

  function marker(kind, fields) {
    const e = assign({ kind }, fields);
    internal.add(e);
    return e;
  }

  function wrapOperation(op, index, opts) {
    const n = index + 1;
    return async (input) => {
      host.rt('debug', 'Starting operation ' + n);
      const start = Date.now();
      let state = input;
      if (isNullState(state)) {
        delete state[NULL_STATE];
        host.rt('warn', 'WARNING: No state was passed into operation ' + n + '. Did the previous operation return state?');
      }
      if (opts.immutableState) state = jsonParse(safeStringify(state));
      let result;
      try {
        result = await op(state);
      } catch (e) {
        // An EvalError is code generation refused (in this realm or by the adaptor realm's
        // guard): a SecurityError whoever threw it, never an AdaptorError.
        if (e && typeof e.stack === 'string' && !internal.has(e) && ctorName(e) !== 'EvalError') {
          const frames = e.stack.split('\n');
          frames.shift();
          let frame;
          for (const f of frames) {
            if (f.includes('@openfn/runtime')) break;
            if (ADAPTOR_FRAME.test(f)) { frame = f; break; }
          }
          if (frame && !frame.includes('vm:module(0)')) {
            const hasVm = frames.some((f) => f.includes('vm:module(0)'));
            throw marker('adaptor', { error: e, index, mapToOperation: !hasVm });
          }
        }
        throw e;
      }
      if (!result) {
        host.rt('debug', 'Warning: operation ' + n + ' did not return state');
        result = { [NULL_STATE]: true };
      }
      host.rt('debug', 'Operation ' + n + ' complete in ' + (Date.now() - start) + 'ms');
      return result;
    };
  }

  const defaultExecute = (...ops) => (state) => ops.reduce((p, op) => p.then(op), RealPromise.resolve(state));

  async function runOperations(ns, state, opts) {
    const ops = ns.default;
    if (!isArray(ops)) {
      throw marker('crash', { subtype: 'InvalidExportsError', message: 'Invalid exports in job expression: exports must be an array' });
    }
    for (let i = 0; i < ops.length; i++) {
      if (typeof ops[i] !== 'function') {
        throw marker('crash', {
          subtype: 'InvalidOperationError',
          message: 'Invalid operation at statement ' + i,
          fix: 'Ensure all top-level function or method calls are wrapped in an operation, like fn()',
        });
      }
    }
    host.rt('debug', 'Executing expression (' + ops.length + ' operations)');
    if (opts.timeoutMs) host.rt('debug', 'Timeout set to ' + opts.timeoutMs + 'ms');
    const execute = typeof ns.execute === 'function' ? ns.execute : defaultExecute;
    const reducer = execute(...ops.map((op, i) => wrapOperation(op, i, opts)));
    const result = await reducer(state);
    host.rt('debug', 'Expression complete!');
    return result;
  }

  function ctorName(e) {
    try {
      const c = e && e.constructor;
      return c && typeof c.name === 'string' ? c.name : '';
    } catch (x) { return ''; }
  }

  // Turn anything thrown into a plain descriptor the host classifies (§2.7).
  function describeError(e) {
    if (internal.has(e)) {
      if (e.kind === 'adaptor') {
        const inner = e.error;
        let details;
        if (inner === null || typeof inner !== 'object') details = inner === undefined ? null : inner;
        else {
          try { details = jsonParse(safeStringify(assign({ message: inner.message }, inner))); } catch (x) { details = { message: String(inner.message) }; }
        }
        return {
          kind: 'adaptor', index: e.index, mapToOperation: e.mapToOperation,
          message: typeof inner === 'string' ? inner : String((inner && inner.message) || ''),
          stack: String(inner.stack || ''), details,
        };
      }
      return { kind: e.kind, subtype: e.subtype, message: e.message, fix: e.fix };
    }
    if (e !== null && typeof e === 'object' || typeof e === 'function') {
      let details;
      try { details = e.details === undefined ? undefined : jsonParse(safeStringify(e.details)); } catch (x) {}
      return {
        kind: 'error', ctor: ctorName(e), name: e.name === undefined ? undefined : String(e.name),
        message: e.message === undefined || e.message === null ? '' : String(e.message),
        stack: typeof e.stack === 'string' ? e.stack : undefined,
        severity: typeof e.severity === 'string' ? e.severity : undefined,
        fix: typeof e.fix === 'string' ? e.fix : undefined, details,
      };
    }
    if (e === null) return { kind: 'null', message: '' };
    return { kind: 'value', message: typeof e === 'string' ? e : '' };
  }

  // Prepare the state leaving a step: null state -> undefined, remove props, JSON clone.
  function finalize(state, propsToRemove) {
    if (isNullState(state)) return { removed: [] };
    if (!state) return { removed: [] };
    const removed = [];
    if (typeof state === 'object') {
      for (const p of propsToRemove) {
        if (hasOwn(state, p)) { delete state[p]; removed.push(p); }
      }
    }
    const text = safeStringify(state);
    return { text, removed };
  }

  // The step is over: its timers go, and so does the global `state`, so that a big state is
  // freed as soon as the host lets go of it rather than by a cycle collection over all of it.
  function teardown() {
    liveTimers.clear();
    delete g.state;
  }

  const textConsole = (mapStack) => { consoleText = true; textStack = mapStack || null; };
  return { assemble, install, runOperations, describeError, finalize, teardown, safeStringify, isNullState, textConsole };
})
