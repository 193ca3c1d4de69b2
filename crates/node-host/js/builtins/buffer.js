// The `buffer` built-in: the vendored `buffer` package (feross/buffer 6.0.3, MIT) plus
// Blob/File, atob/btoa and constants.
'use strict';
const b = require('internal:vendor/buffer/index.js');
const web = require('internal:builtins/internal_web.js');
const Buffer = b.Buffer;
// Node accepts 'base64url'; feross/buffer does not: translate it.
const origToString = Buffer.prototype.toString;
Buffer.prototype.toString = function (encoding, start, end) {
  if (typeof encoding === 'string' && encoding.toLowerCase() === 'base64url') {
    return origToString.call(this, 'base64', start, end).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  return origToString.apply(this, arguments);
};
const origFrom = Buffer.from;
Buffer.from = function (value, encodingOrOffset, length) {
  if (typeof value === 'string' && typeof encodingOrOffset === 'string' && encodingOrOffset.toLowerCase() === 'base64url') {
    return origFrom.call(Buffer, value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  return origFrom.apply(Buffer, arguments);
};
const origIsEncoding = Buffer.isEncoding;
Buffer.isEncoding = (e) => (typeof e === 'string' && e.toLowerCase() === 'base64url') || origIsEncoding(e);
module.exports = {
  Buffer,
  SlowBuffer: b.SlowBuffer,
  INSPECT_MAX_BYTES: b.INSPECT_MAX_BYTES,
  kMaxLength: b.kMaxLength,
  kStringMaxLength: 2 ** 29 - 24,
  constants: { MAX_LENGTH: b.kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 },
  Blob: web.Blob,
  File: web.File,
  atob: globalThis.atob,
  btoa: globalThis.btoa,
  isUtf8: (input) => { try { new TextDecoder('utf-8', { fatal: true }).decode(input); return true; } catch (e) { return false; } },
  isAscii: (input) => Array.prototype.every.call(new Uint8Array(input.buffer || input), (x) => x < 128),
  transcode: (source, _from, to) => Buffer.from(Buffer.from(source).toString(), to),
};
