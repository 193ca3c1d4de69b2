// The `stream` built-in: the vendored `readable-stream` package (3.6.2, MIT: Node's streams)
// exposed in the shape of Node's module (`Stream` with Readable, Writable, …, promises).
'use strict';
const EE = require('events');
const R = require('internal:vendor/readable-stream/readable-browser.js');
function Stream(opts) {
  EE.call(this, opts);
}
Stream.prototype = EE.prototype;
const promisify = (fn) => (...args) => new Promise((resolve, reject) => {
  fn(...args, (err, v) => (err ? reject(err) : resolve(v)));
});
const finishedP = (stream, opts) => new Promise((resolve, reject) => {
  R.finished(stream, opts || {}, (err) => (err ? reject(err) : resolve()));
});
const pipelineP = (...streams) => {
  const last = streams[streams.length - 1];
  if (last && typeof last === 'object' && !last.pipe && !last.write && !last[Symbol.asyncIterator]) streams.pop();
  return promisify(R.pipeline)(...streams);
};
const isReadable = (s) => !!(s && typeof s.read === 'function' && !s.destroyed && s.readable !== false);
const isErrored = (s) => !!(s && (s._readableState && s._readableState.errorEmitted || s._writableState && s._writableState.errorEmitted));
const isDisturbed = (s) => !!(s && s._readableState && (s._readableState.dataEmitted || s._readableState.endEmitted || s._readableState.reading === false && s._readableState.ended));
// Node emits a string or Buffer given to Readable.from as one chunk (readable-stream 3
// would iterate it character by character).
const originalFrom = R.Readable.from;
R.Readable.from = function from(iterable, opts) {
  if (typeof iterable === 'string' || iterable instanceof Uint8Array) {
    return originalFrom.call(this, [iterable], Object.assign({ objectMode: true }, opts));
  }
  return originalFrom.call(this, iterable, opts);
};
R.Readable.prototype.toArray = async function toArray() {
  const out = [];
  for await (const chunk of this) out.push(chunk);
  return out;
};
R.Readable.prototype.map = function map(fn) {
  const src = this;
  return R.Readable.from((async function* () { for await (const c of src) yield await fn(c); })(), { objectMode: true });
};
R.Readable.prototype.filter = function filter(fn) {
  const src = this;
  return R.Readable.from((async function* () { for await (const c of src) if (await fn(c)) yield c; })(), { objectMode: true });
};
R.Readable.prototype.forEach = async function forEach(fn) {
  for await (const c of this) await fn(c);
};
Object.assign(Stream, {
  Stream,
  Readable: R.Readable,
  Writable: R.Writable,
  Duplex: R.Duplex,
  Transform: R.Transform,
  PassThrough: R.PassThrough,
  finished: R.finished,
  pipeline: R.pipeline,
  promises: { pipeline: pipelineP, finished: finishedP },
  addAbortSignal(signal, stream) {
    signal.addEventListener('abort', () => stream.destroy(signal.reason), { once: true });
    return stream;
  },
  isReadable,
  isErrored,
  isDisturbed,
  compose() { throw new Error('stream.compose is not available in the OpenFn adaptor sandbox'); },
  getDefaultHighWaterMark: (objectMode) => (objectMode ? 16 : 16384),
  setDefaultHighWaterMark() {},
});
module.exports = Stream;
