// The `assert` built-in: ok/equal/strictEqual/deepStrictEqual/throws/rejects/match/fail and
// friends, with AssertionError.
'use strict';
const { inspect } = require('internal:builtins/internal_inspect.js');
class AssertionError extends Error {
  constructor(options = {}) {
    super(options.message !== undefined ? String(options.message) : `${inspect(options.actual)} ${options.operator} ${inspect(options.expected)}`);
    this.name = 'AssertionError';
    this.code = 'ERR_ASSERTION';
    this.actual = options.actual;
    this.expected = options.expected;
    this.operator = options.operator;
    this.generatedMessage = options.message === undefined;
  }
}
function fail(actual, expected, message, operator) {
  if (message instanceof Error) throw message;
  throw new AssertionError({ actual, expected, message, operator });
}
function deepEq(a, b, strict, seen = []) {
  if (strict ? Object.is(a, b) : a == b || (a !== a && b !== b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (seen.some(([x, y]) => x === a && y === b)) return true;
  seen = seen.concat([[a, b]]);
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp && b instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEq(v, b.get(k), strict, seen)) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v) && ![...b].some((w) => deepEq(v, w, strict, seen))) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEq(a[k], b[k], strict, seen)) return false;
  return true;
}
function matchesError(err, expected) {
  if (expected === undefined) return true;
  if (typeof expected === 'function') {
    if (expected.prototype !== undefined && err instanceof expected) return true;
    if (Error.isPrototypeOf(expected) || expected === Error) return false;
    return expected(err) === true;
  }
  if (expected instanceof RegExp) return expected.test(String(err && err.message !== undefined ? err : err));
  if (typeof expected === 'object') return Object.keys(expected).every((k) => (expected[k] instanceof RegExp && typeof err[k] === 'string' ? expected[k].test(err[k]) : deepEq(err[k], expected[k], true)));
  return true;
}
function assert(value, message) { if (!value) fail(value, true, message === undefined ? 'The expression evaluated to a falsy value' : message, '=='); }
Object.assign(assert, {
  AssertionError,
  fail: (message = 'Failed') => { if (message instanceof Error) throw message; throw new AssertionError({ message, operator: 'fail' }); },
  ok: (v, m) => assert(v, m),
  equal: (a, b, m) => { if (!(a == b || (a !== a && b !== b))) fail(a, b, m, '=='); },
  notEqual: (a, b, m) => { if (a == b) fail(a, b, m, '!='); },
  strictEqual: (a, b, m) => { if (!Object.is(a, b)) fail(a, b, m, 'strictEqual'); },
  notStrictEqual: (a, b, m) => { if (Object.is(a, b)) fail(a, b, m, 'notStrictEqual'); },
  deepEqual: (a, b, m) => { if (!deepEq(a, b, false)) fail(a, b, m, 'deepEqual'); },
  notDeepEqual: (a, b, m) => { if (deepEq(a, b, false)) fail(a, b, m, 'notDeepEqual'); },
  deepStrictEqual: (a, b, m) => { if (!deepEq(a, b, true)) fail(a, b, m, 'deepStrictEqual'); },
  notDeepStrictEqual: (a, b, m) => { if (deepEq(a, b, true)) fail(a, b, m, 'notDeepStrictEqual'); },
  throws(fn, expected, message) {
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    try { fn(); } catch (e) { if (!matchesError(e, expected)) throw e; return; }
    fail(undefined, expected, message || 'Missing expected exception.', 'throws');
  },
  doesNotThrow(fn, _expected, message) { try { fn(); } catch (e) { fail(e, undefined, message || `Got unwanted exception.\nActual message: "${e && e.message}"`, 'doesNotThrow'); } },
  async rejects(p, expected, message) {
    if (typeof expected === 'string') { message = expected; expected = undefined; }
    try { await (typeof p === 'function' ? p() : p); } catch (e) { if (!matchesError(e, expected)) throw e; return; }
    fail(undefined, expected, message || 'Missing expected rejection.', 'rejects');
  },
  async doesNotReject(p, _expected, message) { try { await (typeof p === 'function' ? p() : p); } catch (e) { fail(e, undefined, message || 'Got unwanted rejection.', 'doesNotReject'); } },
  ifError: (v) => { if (v !== null && v !== undefined) throw v; },
  match: (s, re, m) => { if (!re.test(s)) fail(s, re, m || `The input did not match the regular expression ${re}. Input:\n\n${inspect(s)}\n`, 'match'); },
  doesNotMatch: (s, re, m) => { if (re.test(s)) fail(s, re, m, 'doesNotMatch'); },
  isDeepStrictEqualInternal: (a, b) => deepEq(a, b, true),
});
assert.strict = Object.assign((v, m) => assert(v, m), assert, { equal: assert.strictEqual, notEqual: assert.notStrictEqual, deepEqual: assert.deepStrictEqual, notDeepEqual: assert.notDeepStrictEqual });
assert.strict.strict = assert.strict;
module.exports = assert;
