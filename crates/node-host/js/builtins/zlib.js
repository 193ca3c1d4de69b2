// The `zlib` built-in: gzip/deflate/raw deflate and brotli (sync, callback, promise-free and
// stream forms) backed by Rust (flate2, brotli). Streams buffer their input and (de)compress on
// end. crc32 throws: not available in the adaptor sandbox.
'use strict';
const { host } = binding;
const { Buffer } = require('buffer');
const { Transform } = require('stream');
const makeStub = require('internal:builtins/internal_stub.js');
const toBytes = (d) => (typeof d === 'string' ? Buffer.from(d) : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : d instanceof ArrayBuffer ? new Uint8Array(d) : (() => { const e = new TypeError('The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer'); e.code = 'ERR_INVALID_ARG_TYPE'; throw e; })());
const constants = {
  Z_NO_FLUSH: 0, Z_PARTIAL_FLUSH: 1, Z_SYNC_FLUSH: 2, Z_FULL_FLUSH: 3, Z_FINISH: 4, Z_BLOCK: 5,
  Z_OK: 0, Z_STREAM_END: 1, Z_NEED_DICT: 2, Z_ERRNO: -1, Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3, Z_MEM_ERROR: -4, Z_BUF_ERROR: -5, Z_VERSION_ERROR: -6,
  Z_NO_COMPRESSION: 0, Z_BEST_SPEED: 1, Z_BEST_COMPRESSION: 9, Z_DEFAULT_COMPRESSION: -1,
  Z_FILTERED: 1, Z_HUFFMAN_ONLY: 2, Z_RLE: 3, Z_FIXED: 4, Z_DEFAULT_STRATEGY: 0,
  BROTLI_OPERATION_PROCESS: 0, BROTLI_OPERATION_FLUSH: 1, BROTLI_OPERATION_FINISH: 2, BROTLI_OPERATION_EMIT_METADATA: 3,
  BROTLI_PARAM_MODE: 0, BROTLI_MODE_GENERIC: 0, BROTLI_MODE_TEXT: 1, BROTLI_MODE_FONT: 2, BROTLI_DEFAULT_MODE: 0,
  BROTLI_PARAM_QUALITY: 1, BROTLI_MIN_QUALITY: 0, BROTLI_MAX_QUALITY: 11, BROTLI_DEFAULT_QUALITY: 11,
  BROTLI_PARAM_LGWIN: 2, BROTLI_MIN_WINDOW_BITS: 10, BROTLI_MAX_WINDOW_BITS: 24, BROTLI_DEFAULT_WINDOW: 22,
  BROTLI_PARAM_SIZE_HINT: 5,
};
// [level or quality, window] from Node's options object.
function optionArgs(op, opts) {
  if (!opts || typeof opts !== 'object') return [undefined, undefined];
  if (op === 'brotliCompress') {
    const p = opts.params || {};
    return [p[constants.BROTLI_PARAM_QUALITY], p[constants.BROTLI_PARAM_LGWIN]];
  }
  return [opts.level === undefined || opts.level < 0 ? undefined : opts.level, undefined];
}
function sync(op) {
  return (data, opts) => {
    const [level, window] = optionArgs(op, opts);
    try { return Buffer.from(host.zlib(op, toBytes(data), level, window)); } catch (e) {
      const err = new Error(e.message);
      err.code = e.code || 'Z_DATA_ERROR';
      err.errno = e.errno === undefined ? -3 : e.errno;
      throw err;
    }
  };
}
function async(op) {
  const s = sync(op);
  return (data, opts, cb) => {
    if (typeof opts === 'function') { cb = opts; opts = undefined; }
    let r, err = null;
    try { r = s(data, opts); } catch (e) { err = e; }
    queueMicrotask(() => cb(err, r));
  };
}
function stream(op) {
  return function (opts) {
    const chunks = [];
    return new Transform({
      transform(chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb(); },
      flush(cb) { try { cb(null, sync(op)(Buffer.concat(chunks), opts)); } catch (e) { cb(e); } },
    });
  };
}
const ops = { Gzip: 'gzip', Gunzip: 'gunzip', Deflate: 'deflate', Inflate: 'inflate', DeflateRaw: 'deflateRaw', InflateRaw: 'inflateRaw', Unzip: 'unzip', BrotliCompress: 'brotliCompress', BrotliDecompress: 'brotliDecompress' };
const out = makeStub('zlib', ['crc32'], { constants, codes: { Z_OK: 0, Z_STREAM_END: 1, Z_NEED_DICT: 2, Z_ERRNO: -1, Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3, Z_MEM_ERROR: -4, Z_BUF_ERROR: -5, Z_VERSION_ERROR: -6 } });
for (const [cls, op] of Object.entries(ops)) {
  out[op + 'Sync'] = sync(op);
  out[op] = async(op);
  out['create' + cls] = stream(op);
  out[cls] = stream(op);
}
module.exports = out;
