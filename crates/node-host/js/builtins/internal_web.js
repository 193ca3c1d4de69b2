// Web platform classes for the adaptor realm: Event, EventTarget, AbortController/AbortSignal,
// DOMException, structuredClone, Blob, File and FormData.
'use strict';
class DOMException extends Error {
  constructor(message = '', name = 'Error') {
    super(message);
    Object.defineProperty(this, 'name', { value: name, configurable: true, writable: true });
  }
  get code() { return { AbortError: 20, TimeoutError: 23, NotSupportedError: 9, InvalidStateError: 11, DataCloneError: 25 }[this.name] || 0; }
}
class Event {
  constructor(type, init = {}) {
    this.type = String(type);
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.defaultPrevented = false;
    this.timeStamp = Date.now();
    this.target = null;
    this.currentTarget = null;
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() {}
  stopImmediatePropagation() { this._stop = true; }
}
const kListeners = Symbol('listeners');
class EventTarget {
  constructor() { Object.defineProperty(this, kListeners, { value: new Map() }); }
  addEventListener(type, fn, options) {
    if (!fn) return;
    const once = typeof options === 'object' && options !== null && !!options.once;
    const list = this[kListeners].get(type) || [];
    if (list.some((l) => l.fn === fn)) return;
    list.push({ fn, once });
    this[kListeners].set(type, list);
    if (typeof options === 'object' && options && options.signal) options.signal.addEventListener('abort', () => this.removeEventListener(type, fn), { once: true });
  }
  removeEventListener(type, fn) {
    const list = this[kListeners].get(type);
    if (list) this[kListeners].set(type, list.filter((l) => l.fn !== fn));
  }
  dispatchEvent(event) {
    const list = (this[kListeners].get(event.type) || []).slice();
    try { event.target = this; event.currentTarget = this; } catch (e) { /* read-only */ }
    const handler = this['on' + event.type];
    if (typeof handler === 'function') handler.call(this, event);
    for (const l of list) {
      if (l.once) this.removeEventListener(event.type, l.fn);
      if (typeof l.fn === 'function') l.fn.call(this, event);
      else if (l.fn && typeof l.fn.handleEvent === 'function') l.fn.handleEvent(event);
      if (event._stop) break;
    }
    return !event.defaultPrevented;
  }
}
class AbortSignal extends EventTarget {
  constructor() { super(); this.aborted = false; this.reason = undefined; this.onabort = null; }
  throwIfAborted() { if (this.aborted) throw this.reason; }
  static abort(reason) { const c = new AbortController(); c.abort(reason); return c.signal; }
  static timeout(ms) {
    const c = new AbortController();
    setTimeout(() => c.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
    return c.signal;
  }
  static any(signals) {
    const c = new AbortController();
    for (const s of signals) {
      if (s.aborted) { c.abort(s.reason); break; }
      s.addEventListener('abort', () => c.abort(s.reason), { once: true });
    }
    return c.signal;
  }
}
class AbortController {
  constructor() { this.signal = new AbortSignal(); }
  abort(reason) {
    const s = this.signal;
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    s.dispatchEvent(new Event('abort'));
  }
}

function structuredClone(value, seen = new Map()) {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function' || typeof value === 'symbol') throw new DOMException(`${String(value)} could not be cloned.`, 'DataCloneError');
    return value;
  }
  if (seen.has(value)) return seen.get(value);
  let out;
  if (value instanceof Date) out = new Date(value.getTime());
  else if (value instanceof RegExp) out = new RegExp(value.source, value.flags);
  else if (value instanceof ArrayBuffer) out = value.slice(0);
  else if (ArrayBuffer.isView(value)) out = new value.constructor(structuredClone(value.buffer, seen), value.byteOffset, value.length);
  else if (value instanceof Map) { out = new Map(); seen.set(value, out); for (const [k, v] of value) out.set(structuredClone(k, seen), structuredClone(v, seen)); return out; }
  else if (value instanceof Set) { out = new Set(); seen.set(value, out); for (const v of value) out.add(structuredClone(v, seen)); return out; }
  else if (value instanceof Error) { out = new value.constructor(value.message); if (value.stack) out.stack = value.stack; }
  else if (Array.isArray(value)) { out = []; seen.set(value, out); for (let i = 0; i < value.length; i++) out[i] = structuredClone(value[i], seen); return out; }
  else {
    out = {};
    seen.set(value, out);
    for (const k of Object.keys(value)) out[k] = structuredClone(value[k], seen);
    return out;
  }
  seen.set(value, out);
  return out;
}

const { utf8Encode, utf8Decode } = require('internal:builtins/internal_encoding.js');
function partBytes(p) {
  if (p instanceof Blob) return p._bytes;
  if (p instanceof ArrayBuffer) return new Uint8Array(p.slice(0));
  if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength));
  return utf8Encode(String(p));
}
class Blob {
  constructor(parts = [], options = {}) {
    const chunks = Array.from(parts, partBytes);
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const bytes = new Uint8Array(size);
    let o = 0;
    for (const c of chunks) { bytes.set(c, o); o += c.length; }
    Object.defineProperty(this, '_bytes', { value: bytes });
    this._type = options.type ? String(options.type).toLowerCase() : '';
  }
  get size() { return this._bytes.length; }
  get type() { return this._type; }
  async text() { return utf8Decode(this._bytes, false); }
  async arrayBuffer() { return this._bytes.slice().buffer; }
  async bytes() { return this._bytes.slice(); }
  slice(start = 0, end = this.size, type = '') { return new Blob([this._bytes.slice(start, end)], { type }); }
  stream() {
    const bytes = this._bytes;
    return new globalThis.ReadableStream({ start(c) { c.enqueue(bytes.slice()); c.close(); } });
  }
  get [Symbol.toStringTag]() { return 'Blob'; }
}
class File extends Blob {
  constructor(parts, name, options = {}) {
    super(parts, options);
    this.name = String(name);
    this.lastModified = options.lastModified || Date.now();
  }
  get [Symbol.toStringTag]() { return 'File'; }
}
class FormData {
  constructor() { this._entries = []; }
  append(name, value, filename) { this._entries.push([String(name), toEntry(value, filename)]); }
  set(name, value, filename) { this.delete(name); this.append(name, value, filename); }
  get(name) { const e = this._entries.find(([k]) => k === String(name)); return e ? e[1] : null; }
  getAll(name) { return this._entries.filter(([k]) => k === String(name)).map(([, v]) => v); }
  has(name) { return this._entries.some(([k]) => k === String(name)); }
  delete(name) { this._entries = this._entries.filter(([k]) => k !== String(name)); }
  forEach(cb, thisArg) { for (const [k, v] of this._entries) cb.call(thisArg, v, k, this); }
  *entries() { yield* this._entries.map((e) => e.slice()); }
  *keys() { for (const [k] of this._entries) yield k; }
  *values() { for (const [, v] of this._entries) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  get [Symbol.toStringTag]() { return 'FormData'; }
}
function toEntry(value, filename) {
  if (value instanceof Blob) {
    if (value instanceof File && filename === undefined) return value;
    return new File([value], filename !== undefined ? filename : 'blob', { type: value.type });
  }
  return String(value);
}
// multipart/form-data encoding of a FormData: { body: Uint8Array, contentType }.
function encodeFormData(form) {
  const boundary = '----formdata-openfn-' + Math.random().toString(16).slice(2) + Math.random().toString(16).slice(2);
  const chunks = [];
  const esc = (s) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
  for (const [name, value] of form._entries) {
    if (typeof value === 'string') {
      chunks.push(utf8Encode(`--${boundary}\r\nContent-Disposition: form-data; name="${esc(name)}"\r\n\r\n${value.replace(/\r(?!\n)|(?<!\r)\n/g, '\r\n')}\r\n`));
    } else {
      chunks.push(utf8Encode(`--${boundary}\r\nContent-Disposition: form-data; name="${esc(name)}"; filename="${esc(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`));
      chunks.push(value._bytes);
      chunks.push(utf8Encode('\r\n'));
    }
  }
  chunks.push(utf8Encode(`--${boundary}--\r\n`));
  return { body: new Blob(chunks)._bytes, contentType: `multipart/form-data; boundary=${boundary}` };
}
module.exports = { DOMException, Event, EventTarget, AbortSignal, AbortController, structuredClone: (v) => structuredClone(v), Blob, File, FormData, encodeFormData };
