// The `crypto` built-in: randomUUID, randomBytes, getRandomValues, createHash, createHmac and
// timingSafeEqual, backed by Rust. Ciphers, signatures and keys are not available.
'use strict';
const { host } = binding;
const { Buffer } = require('buffer');
const toBuf = (data, enc) => (typeof data === 'string' ? Buffer.from(data, enc || 'utf8') : Buffer.isBuffer(data) ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : data instanceof ArrayBuffer ? Buffer.from(data) : (() => { const e = new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView'); e.code = 'ERR_INVALID_ARG_TYPE'; throw e; })());
const concat = (chunks) => Buffer.concat(chunks);
const finish = (out, enc) => { const b = Buffer.from(out); return enc && enc !== 'buffer' ? b.toString(enc) : b; };
class Hash {
  constructor(alg) {
    this._alg = String(alg);
    this._chunks = [];
    this._done = false;
    host.digest(this._alg, new Uint8Array(0));
  }
  update(data, enc) {
    if (this._done) { const e = new Error('Digest already called'); e.code = 'ERR_CRYPTO_HASH_FINALIZED'; throw e; }
    this._chunks.push(toBuf(data, enc));
    return this;
  }
  digest(enc) {
    if (this._done) { const e = new Error('Digest already called'); e.code = 'ERR_CRYPTO_HASH_FINALIZED'; throw e; }
    this._done = true;
    return finish(host.digest(this._alg, concat(this._chunks)), enc);
  }
  copy() { const h = new Hash(this._alg); h._chunks = this._chunks.slice(); return h; }
}
class Hmac {
  constructor(alg, key) {
    this._alg = String(alg);
    this._key = toBuf(key && key._secret ? key._secret : key);
    this._chunks = [];
    host.hmac(this._alg, this._key, new Uint8Array(0));
  }
  update(data, enc) { this._chunks.push(toBuf(data, enc)); return this; }
  digest(enc) { return finish(host.hmac(this._alg, this._key, concat(this._chunks)), enc); }
}
function randomBytes(n, cb) {
  const b = Buffer.from(host.randomBytes(n));
  if (typeof cb === 'function') { queueMicrotask(() => cb(null, b)); return undefined; }
  return b;
}
function getRandomValues(arr) {
  if (!ArrayBuffer.isView(arr)) throw new TypeError('The data argument must be an integer-type TypedArray');
  const bytes = new Uint8Array(host.randomBytes(arr.byteLength));
  new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).set(bytes);
  return arr;
}
function randomInt(min, max, cb) {
  if (max === undefined || typeof max === 'function') { cb = max; max = min; min = 0; }
  const range = max - min;
  const buf = new Uint32Array(2);
  getRandomValues(buf);
  const v = min + Math.floor(((buf[0] * 2 ** 32 + buf[1]) / 2 ** 64) * range);
  if (typeof cb === 'function') { queueMicrotask(() => cb(null, v)); return undefined; }
  return v;
}
const notAvailable = (name) => function () {
  const e = new Error(`crypto.${name} is not available in the OpenFn adaptor sandbox`);
  e.code = 'ERR_NOT_AVAILABLE';
  throw e;
};
const subtle = new Proxy({}, { get: (_t, k) => (typeof k === 'string' ? notAvailable('subtle.' + k) : undefined) });
const webcrypto = { getRandomValues, randomUUID: () => host.randomUUID(), subtle };
module.exports = {
  createHash: (alg) => new Hash(alg),
  createHmac: (alg, key) => new Hmac(alg, key),
  Hash,
  Hmac,
  randomUUID: () => host.randomUUID(),
  randomBytes,
  pseudoRandomBytes: randomBytes,
  randomFillSync: (buf) => getRandomValues(buf),
  randomFill: (buf, cb) => { getRandomValues(buf); queueMicrotask(() => cb(null, buf)); },
  randomInt,
  getRandomValues,
  webcrypto,
  subtle,
  timingSafeEqual(a, b) {
    if (a.byteLength !== b.byteLength) { const e = new RangeError('Input buffers must have the same byte length'); e.code = 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH'; throw e; }
    const x = toBuf(a), y = toBuf(b);
    let d = 0;
    for (let i = 0; i < x.length; i++) d |= x[i] ^ y[i];
    return d === 0;
  },
  getHashes: () => ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'],
  getCiphers: () => [],
  hash: (alg, data, enc = 'hex') => new Hash(alg).update(data).digest(enc),
  createSecretKey: (key) => ({ type: 'secret', _secret: toBuf(key), export: () => toBuf(key) }),
  constants: {},
  createCipheriv: notAvailable('createCipheriv'),
  createDecipheriv: notAvailable('createDecipheriv'),
  createSign: notAvailable('createSign'),
  createVerify: notAvailable('createVerify'),
  createPrivateKey: notAvailable('createPrivateKey'),
  createPublicKey: notAvailable('createPublicKey'),
  generateKeyPairSync: notAvailable('generateKeyPairSync'),
  generateKeyPair: notAvailable('generateKeyPair'),
  pbkdf2: notAvailable('pbkdf2'),
  pbkdf2Sync: notAvailable('pbkdf2Sync'),
  scrypt: notAvailable('scrypt'),
  scryptSync: notAvailable('scryptSync'),
  sign: notAvailable('sign'),
  verify: notAvailable('verify'),
  publicEncrypt: notAvailable('publicEncrypt'),
  privateDecrypt: notAvailable('privateDecrypt'),
  createDiffieHellman: notAvailable('createDiffieHellman'),
  createECDH: notAvailable('createECDH'),
};
