// The `util` built-in: inherits, promisify/callbackify, inspect/format, deprecate, types, …
'use strict';
const { inspect, format, formatWithOptions } = require('internal:builtins/internal_inspect.js');
const types = require('util/types');
const { TextEncoder, TextDecoder } = require('internal:builtins/internal_encoding.js');

const kCustomPromisify = Symbol.for('nodejs.util.promisify.custom');

function promisify(original) {
  if (typeof original !== 'function') {
    const e = new TypeError('The "original" argument must be of type function');
    e.code = 'ERR_INVALID_ARG_TYPE';
    throw e;
  }
  if (original[kCustomPromisify]) return original[kCustomPromisify];
  function fn(...args) {
    return new Promise((resolve, reject) => {
      original.call(this, ...args, (err, ...values) => {
        if (err) reject(err);
        else resolve(values.length > 1 ? values : values[0]);
      });
    });
  }
  Object.setPrototypeOf(fn, Object.getPrototypeOf(original));
  Object.defineProperty(fn, kCustomPromisify, { value: fn });
  return Object.defineProperties(fn, Object.getOwnPropertyDescriptors(original));
}
promisify.custom = kCustomPromisify;

function callbackify(original) {
  return function (...args) {
    const cb = args.pop();
    original.apply(this, args).then((v) => queueMicrotask(() => cb(null, v)), (e) => queueMicrotask(() => cb(e || new Error('Promise was rejected with a falsy value'))));
  };
}

function inherits(ctor, superCtor) {
  if (superCtor === undefined || superCtor === null) throw new TypeError('The "superCtor" argument must be of type function');
  Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

const warned = new Set();
function deprecate(fn, msg, code) {
  return function (...args) {
    if (!warned.has(code || msg)) {
      warned.add(code || msg);
      if (typeof process !== 'undefined' && process.emitWarning) process.emitWarning(msg, 'DeprecationWarning', code);
    }
    return new.target ? Reflect.construct(fn, args, new.target) : fn.apply(this, args);
  };
}

function debuglog() {
  const f = () => {};
  f.enabled = false;
  return f;
}

function isDeepStrictEqual(a, b) {
  return require('assert').isDeepStrictEqualInternal(a, b);
}

function stripVTControlCharacters(s) {
  return String(s).replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

module.exports = {
  inspect, format, formatWithOptions, promisify, callbackify, inherits, deprecate,
  debuglog, debug: debuglog, types, isDeepStrictEqual, TextEncoder, TextDecoder,
  stripVTControlCharacters,
  toUSVString: (s) => String(s).toWellFormed ? String(s).toWellFormed() : String(s),
  isArray: Array.isArray,
  isBoolean: (v) => typeof v === 'boolean',
  isNull: (v) => v === null,
  isNullOrUndefined: (v) => v === null || v === undefined,
  isNumber: (v) => typeof v === 'number',
  isString: (v) => typeof v === 'string',
  isSymbol: (v) => typeof v === 'symbol',
  isUndefined: (v) => v === undefined,
  isRegExp: types.isRegExp,
  isObject: (v) => v !== null && typeof v === 'object',
  isDate: types.isDate,
  isError: (v) => v instanceof Error,
  isFunction: (v) => typeof v === 'function',
  isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
  getSystemErrorName: (n) => 'E' + n,
  aborted: (signal) => new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
  parseArgs: () => { throw new Error('util.parseArgs is not available in the OpenFn adaptor sandbox'); },
  styleText: (_f, t) => t,
};
