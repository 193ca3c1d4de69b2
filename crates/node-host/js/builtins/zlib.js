// The `zlib` built-in: gzip/deflate/raw deflate (sync, callback and stream forms) backed by
// Rust (flate2). Brotli and crc32 throw: not available in the adaptor sandbox.
'use strict';
const { host } = binding;
const { Buffer } = require('buffer');
const { Transform } = require('stream');
const makeStub = require('internal:builtins/internal_stub.js');
const toBytes = (d) => (typeof d === 'string' ? Buffer.from(d) : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : d instanceof ArrayBuffer ? new Uint8Array(d) : (() => { const e = new TypeError('The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer'); e.code = 'ERR_INVALID_ARG_TYPE'; throw e; })());
function sync(op) {
  return (data) => {
    try { return Buffer.from(host.zlib(op, toBytes(data))); } catch (e) { const err = new Error(e.message); err.code = 'Z_DATA_ERROR'; err.errno = -3; throw err; }
  };
}
function async(op) {
  const s = sync(op);
  return (data, opts, cb) => {
    if (typeof opts === 'function') cb = opts;
    let r, err = null;
    try { r = s(data); } catch (e) { err = e; }
    queueMicrotask(() => cb(err, r));
  };
}
function stream(op) {
  return () => {
    const chunks = [];
    return new Transform({
      transform(chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb(); },
      flush(cb) { try { cb(null, sync(op)(Buffer.concat(chunks))); } catch (e) { cb(e); } },
    });
  };
}
const ops = { Gzip: 'gzip', Gunzip: 'gunzip', Deflate: 'deflate', Inflate: 'inflate', DeflateRaw: 'deflateRaw', InflateRaw: 'inflateRaw', Unzip: 'unzip' };
const out = makeStub('zlib', ['brotliCompress', 'brotliCompressSync', 'brotliDecompress', 'brotliDecompressSync', 'createBrotliCompress', 'createBrotliDecompress', 'crc32'], {
  constants: { Z_NO_FLUSH: 0, Z_PARTIAL_FLUSH: 1, Z_SYNC_FLUSH: 2, Z_FULL_FLUSH: 3, Z_FINISH: 4, Z_OK: 0, Z_STREAM_END: 1, Z_DATA_ERROR: -3, Z_DEFAULT_COMPRESSION: -1, BROTLI_OPERATION_FLUSH: 1, BROTLI_OPERATION_FINISH: 2, BROTLI_OPERATION_PROCESS: 0 },
});
for (const [cls, op] of Object.entries(ops)) {
  const lower = op;
  out[lower + 'Sync'] = sync(op);
  out[lower] = async(op);
  out['create' + cls] = stream(op);
  out[cls] = stream(op);
}
module.exports = out;
