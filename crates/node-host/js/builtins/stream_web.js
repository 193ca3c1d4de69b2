// The `stream/web` built-in: compact WHATWG ReadableStream, WritableStream and TransformStream
// (default readers and writers, async iteration, pipeTo/pipeThrough; no byte streams).
'use strict';
class ReadableStreamDefaultController {
  constructor(stream) { this._s = stream; }
  get desiredSize() { return 1 - this._s._queue.length; }
  enqueue(chunk) { const s = this._s; if (s._state !== 'readable') throw new TypeError('Invalid state: Controller is already closed'); const w = s._waiting.shift(); if (w) w.resolve({ value: chunk, done: false }); else s._queue.push(chunk); }
  close() { const s = this._s; s._closeRequested = true; if (s._queue.length === 0) s._close(); }
  error(e) { this._s._error(e); }
}
class ReadableStream {
  constructor(source = {}, _strategy = {}) {
    this._queue = [];
    this._waiting = [];
    this._state = 'readable';
    this._closeRequested = false;
    this._reader = null;
    this._source = source;
    this._controller = new ReadableStreamDefaultController(this);
    this._pulling = false;
    const start = source.start ? source.start(this._controller) : undefined;
    this._started = Promise.resolve(start).catch((e) => this._error(e));
  }
  _close() { if (this._state !== 'readable') return; this._state = 'closed'; for (const w of this._waiting.splice(0)) w.resolve({ value: undefined, done: true }); }
  _error(e) { if (this._state !== 'readable') return; this._state = 'errored'; this._storedError = e; for (const w of this._waiting.splice(0)) w.reject(e); }
  async _pull() {
    if (this._pulling || !this._source.pull || this._state !== 'readable' || this._closeRequested) return;
    this._pulling = true;
    try { await this._started; await this._source.pull(this._controller); } catch (e) { this._error(e); }
    this._pulling = false;
  }
  _read() {
    if (this._queue.length) {
      const value = this._queue.shift();
      if (this._closeRequested && this._queue.length === 0) this._close();
      return Promise.resolve({ value, done: false });
    }
    if (this._state === 'closed') return Promise.resolve({ value: undefined, done: true });
    if (this._state === 'errored') return Promise.reject(this._storedError);
    const p = new Promise((resolve, reject) => this._waiting.push({ resolve, reject }));
    this._started.then(() => this._pull());
    return p;
  }
  get locked() { return this._reader !== null; }
  getReader() {
    if (this._reader) throw new TypeError('ReadableStream is locked');
    const stream = this;
    const reader = {
      read: () => stream._read(),
      releaseLock: () => { stream._reader = null; },
      cancel: (r) => stream.cancel(r),
      get closed() { return new Promise((resolve) => { const t = () => (stream._state !== 'readable' ? resolve() : setTimeout(t, 1)); t(); }); },
    };
    this._reader = reader;
    return reader;
  }
  async cancel(reason) {
    this._queue = [];
    this._close();
    if (this._source.cancel) await this._source.cancel(reason);
  }
  async pipeTo(dest, options = {}) {
    const reader = this.getReader();
    const writer = dest.getWriter();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      if (!options.preventClose) await writer.close();
    } finally { reader.releaseLock(); writer.releaseLock(); }
  }
  pipeThrough(transform, options) { this.pipeTo(transform.writable, options).catch(() => {}); return transform.readable; }
  tee() {
    const chunks = [];
    const reader = this.getReader();
    const pump = (async () => { while (true) { const r = await reader.read(); if (r.done) break; chunks.push(r.value); } })();
    const branch = () => new ReadableStream({ async start(c) { await pump; for (const x of chunks) c.enqueue(x); c.close(); } });
    return [branch(), branch()];
  }
  values(options = {}) {
    const reader = this.getReader();
    return {
      next: () => reader.read(),
      return: async (v) => { if (!options.preventCancel) await this.cancel(); reader.releaseLock(); return { value: v, done: true }; },
      [Symbol.asyncIterator]() { return this; },
    };
  }
  [Symbol.asyncIterator](options) { return this.values(options); }
  static from(iterable) {
    const it = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    return new ReadableStream({ async pull(c) { const { value, done } = await it.next(); if (done) c.close(); else c.enqueue(value); } });
  }
}
class WritableStream {
  constructor(sink = {}) {
    this._sink = sink;
    this._locked = false;
    this._controller = { error: (e) => { this._errored = e; } };
    this._ready = Promise.resolve(sink.start ? sink.start(this._controller) : undefined);
    this._chain = this._ready;
  }
  get locked() { return this._locked; }
  getWriter() {
    if (this._locked) throw new TypeError('WritableStream is locked');
    this._locked = true;
    const s = this;
    return {
      write: (chunk) => (s._chain = s._chain.then(() => s._sink.write && s._sink.write(chunk, s._controller))),
      close: () => (s._chain = s._chain.then(() => s._sink.close && s._sink.close())),
      abort: (r) => Promise.resolve(s._sink.abort && s._sink.abort(r)),
      releaseLock: () => { s._locked = false; },
      get ready() { return s._chain; },
      get closed() { return s._chain; },
      get desiredSize() { return 1; },
    };
  }
  async close() { const w = this.getWriter(); await w.close(); w.releaseLock(); }
  async abort(r) { if (this._sink.abort) await this._sink.abort(r); }
}
class TransformStream {
  constructor(transformer = {}) {
    let rc;
    this.readable = new ReadableStream({ start(c) { rc = c; } });
    const controller = { enqueue: (c) => rc.enqueue(c), error: (e) => rc.error(e), terminate: () => rc.close(), get desiredSize() { return rc.desiredSize; } };
    const started = Promise.resolve(transformer.start ? transformer.start(controller) : undefined);
    this.writable = new WritableStream({
      async write(chunk) { await started; if (transformer.transform) await transformer.transform(chunk, controller); else controller.enqueue(chunk); },
      async close() { await started; if (transformer.flush) await transformer.flush(controller); rc.close(); },
      abort(r) { rc.error(r); },
    });
  }
}
const { TextEncoder, TextDecoder } = require('internal:builtins/internal_encoding.js');
class TextEncoderStream extends TransformStream {
  constructor() { const e = new TextEncoder(); super({ transform: (c, ctl) => ctl.enqueue(e.encode(c)) }); }
}
class TextDecoderStream extends TransformStream {
  constructor(label, opts) { const d = new TextDecoder(label, opts); super({ transform: (c, ctl) => ctl.enqueue(d.decode(c, { stream: true })), flush: (ctl) => { const s = d.decode(); if (s) ctl.enqueue(s); } }); }
}
class ByteLengthQueuingStrategy { constructor(o) { this.highWaterMark = o.highWaterMark; } size(c) { return c.byteLength; } }
class CountQueuingStrategy { constructor(o) { this.highWaterMark = o.highWaterMark; } size() { return 1; } }
module.exports = { ReadableStream, ReadableStreamDefaultController, WritableStream, TransformStream, TextEncoderStream, TextDecoderStream, ByteLengthQueuingStrategy, CountQueuingStrategy };
