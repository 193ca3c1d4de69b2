// fetch, Headers, Request and Response over the host HTTP client, and the body encoding
// shared with `undici`.
'use strict';
const { host } = binding;
const { Buffer } = require('buffer');
const { Blob, FormData, encodeFormData, DOMException } = require('internal:builtins/internal_web.js');
const { URLSearchParams } = require('url');
const { utf8Decode } = require('internal:builtins/internal_encoding.js');

// Encodes a request body: { bytes: Uint8Array | undefined, contentType: string | undefined }.
async function encodeBody(body) {
  if (body === undefined || body === null) return { bytes: undefined };
  if (typeof body === 'string') return { bytes: Buffer.from(body, 'utf8'), contentType: 'text/plain;charset=UTF-8' };
  if (body instanceof ArrayBuffer) return { bytes: new Uint8Array(body) };
  if (ArrayBuffer.isView(body)) return { bytes: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof URLSearchParams) return { bytes: Buffer.from(body.toString()), contentType: 'application/x-www-form-urlencoded;charset=UTF-8' };
  if (body instanceof FormData || (body && body[Symbol.toStringTag] === 'FormData' && typeof body.entries === 'function')) {
    const form = body instanceof FormData ? body : Object.assign(new FormData(), { _entries: [...body.entries()] });
    const { body: bytes, contentType } = encodeFormData(form);
    return { bytes, contentType };
  }
  if (body instanceof Blob) return { bytes: body._bytes, contentType: body.type || undefined };
  if (body && typeof body.getReader === 'function') {
    const chunks = [];
    const r = body.getReader();
    while (true) { const { value, done } = await r.read(); if (done) break; chunks.push(Buffer.from(typeof value === 'string' ? Buffer.from(value) : value)); }
    return { bytes: Buffer.concat(chunks) };
  }
  if (body && (typeof body[Symbol.asyncIterator] === 'function' || typeof body[Symbol.iterator] === 'function')) {
    const chunks = [];
    for await (const c of body) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c.buffer ? new Uint8Array(c.buffer, c.byteOffset, c.byteLength) : c));
    return { bytes: Buffer.concat(chunks) };
  }
  return { bytes: Buffer.from(String(body)), contentType: 'text/plain;charset=UTF-8' };
}

// A TLS option that Node accepts as a string, a Buffer, an array of those, or (for `key`)
// objects `{ pem }`, as PEM text.
function pemText(v) {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(pemText).filter((x) => x !== undefined).join('\n');
  if (typeof v === 'string') return v;
  if (ArrayBuffer.isView(v)) return utf8Decode(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), false);
  if (v instanceof ArrayBuffer) return utf8Decode(new Uint8Array(v), false);
  if (typeof v === 'object' && v.pem !== undefined) return pemText(v.pem);
  return String(v);
}

// One HTTP exchange through the host. `req.headers` is an array of [name, value]; the TLS
// options are undici's `connect` options.
async function performHttp(req, signal) {
  if (signal && signal.aborted) throw signal.reason;
  const p = host.http({
    method: req.method || 'GET',
    url: req.url,
    headers: req.headers || [],
    body: req.body,
    maxRedirections: req.maxRedirections || 0,
    rejectUnauthorized: req.rejectUnauthorized !== false,
    ca: pemText(req.ca),
    cert: pemText(req.cert),
    key: pemText(req.key),
    pfx: req.pfx !== undefined && req.pfx !== null,
    timeout: req.timeout,
  });
  if (!signal) return p;
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    p.then(resolve, reject);
  });
}

const kList = Symbol('headers');
class Headers {
  constructor(init) {
    this[kList] = [];
    if (init instanceof Headers) this[kList] = init[kList].map((e) => e.slice());
    else if (Array.isArray(init) || (init && typeof init[Symbol.iterator] === 'function')) for (const [k, v] of init) this.append(k, v);
    else if (init && typeof init === 'object') for (const k of Object.keys(init)) this.append(k, init[k]);
  }
  append(k, v) { this[kList].push([String(k).toLowerCase(), String(v).trim()]); }
  set(k, v) { k = String(k).toLowerCase(); this.delete(k); this[kList].push([k, String(v).trim()]); }
  get(k) { k = String(k).toLowerCase(); const vs = this[kList].filter(([a]) => a === k).map(([, b]) => b); return vs.length ? vs.join(', ') : null; }
  getSetCookie() { return this[kList].filter(([a]) => a === 'set-cookie').map(([, b]) => b); }
  has(k) { k = String(k).toLowerCase(); return this[kList].some(([a]) => a === k); }
  delete(k) { k = String(k).toLowerCase(); this[kList] = this[kList].filter(([a]) => a !== k); }
  forEach(cb, thisArg) { for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this); }
  *entries() {
    const names = [...new Set(this[kList].map(([k]) => k))].sort();
    for (const n of names) {
      if (n === 'set-cookie') for (const v of this.getSetCookie()) yield [n, v];
      else yield [n, this.get(n)];
    }
  }
  *keys() { for (const [k] of this.entries()) yield k; }
  *values() { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  get [Symbol.toStringTag]() { return 'Headers'; }
}

class Body {
  _initBody(bytes) { this._bytes = bytes; this.bodyUsed = false; }
  _consume() {
    if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    this.bodyUsed = true;
    return Promise.resolve(this._bytes || new Uint8Array(0));
  }
  get body() {
    if (this._bytes === null || this._bytes === undefined) return null;
    const bytes = this._bytes;
    return new globalThis.ReadableStream({ start(c) { c.enqueue(new Uint8Array(bytes)); c.close(); } });
  }
  async text() { return utf8Decode(await this._consume(), false); }
  async json() { return JSON.parse(await this.text()); }
  async arrayBuffer() { const b = await this._consume(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  async bytes() { return new Uint8Array(await this.arrayBuffer()); }
  async blob() { return new Blob([await this._consume()], { type: (this.headers && this.headers.get('content-type')) || '' }); }
  async formData() { throw new TypeError('Response.formData is not supported'); }
}

class Request extends Body {
  constructor(input, init = {}) {
    super();
    const src = input instanceof Request ? input : null;
    this.url = src ? src.url : new URL(String(input)).href;
    this.method = String(init.method || (src ? src.method : 'GET')).toUpperCase();
    this.headers = new Headers(init.headers || (src ? src.headers : undefined));
    this.signal = init.signal || (src ? src.signal : null);
    this.redirect = init.redirect || (src ? src.redirect : 'follow');
    this._rawBody = init.body !== undefined ? init.body : src ? src._rawBody : undefined;
    this._initBody(typeof this._rawBody === 'string' ? Buffer.from(this._rawBody) : ArrayBuffer.isView(this._rawBody) ? this._rawBody : null);
  }
  clone() { return new Request(this); }
}

class Response extends Body {
  constructor(body = null, init = {}) {
    super();
    this.status = init.status === undefined ? 200 : init.status;
    this.statusText = init.statusText || '';
    this.headers = new Headers(init.headers);
    this.type = 'default';
    this.url = init.url || '';
    this.redirected = !!init.redirected;
    let bytes = null;
    if (typeof body === 'string') { bytes = Buffer.from(body); if (!this.headers.has('content-type')) this.headers.set('content-type', 'text/plain;charset=UTF-8'); }
    else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
    else if (ArrayBuffer.isView(body)) bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    else if (body instanceof Blob) bytes = body._bytes;
    else if (body !== null && body !== undefined) bytes = Buffer.from(String(body));
    this._initBody(bytes);
  }
  get ok() { return this.status >= 200 && this.status < 300; }
  clone() { const r = new Response(this._bytes, { status: this.status, statusText: this.statusText, headers: this.headers, url: this.url }); return r; }
  static json(data, init = {}) { const h = new Headers(init.headers); h.set('content-type', 'application/json'); return new Response(JSON.stringify(data), Object.assign({}, init, { headers: h })); }
  static error() { const r = new Response(null, { status: 0 }); r.type = 'error'; return r; }
  static redirect(url, status = 302) { return new Response(null, { status, headers: { location: String(url) } }); }
}

const STATUS_TEXT = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

// undici's global dispatcher (set by `undici.setGlobalDispatcher`).
const kGlobalDispatcher = Symbol.for('undici.globalDispatcher.1');

// Sends through `dispatcher` (an undici Agent/MockAgent: its TLS options, its mocks) if any.
function dispatch(dispatcher, req, signal) {
  if (!dispatcher || typeof dispatcher._perform !== 'function') return performHttp(req, signal);
  const tls = typeof dispatcher._settings === 'function' ? dispatcher._settings().tls : {};
  return dispatcher._perform(Object.assign({}, tls, req), { signal });
}

// Node's fetch is undici's: `init.dispatcher`, else the global dispatcher, carries the
// connection options.
async function fetch(input, init = {}) {
  const req = new Request(input, init);
  const { bytes, contentType } = await encodeBody(req._rawBody);
  const headers = [...req.headers[kList]];
  if (contentType && !req.headers.has('content-type')) headers.push(['content-type', contentType]);
  let res;
  try {
    res = await dispatch(init.dispatcher || globalThis[kGlobalDispatcher], { method: req.method, url: req.url, headers, body: bytes, maxRedirections: req.redirect === 'follow' ? 20 : 0 }, req.signal);
  } catch (e) {
    if (req.signal && req.signal.aborted) throw e;
    const err = new TypeError('fetch failed');
    err.cause = e;
    throw err;
  }
  if (req.redirect === 'error' && res.status >= 300 && res.status < 400) throw new TypeError('fetch failed: unexpected redirect');
  const out = new Response(new Uint8Array(res.body), { status: res.status, statusText: STATUS_TEXT[res.status] || '', headers: res.headers, url: res.url });
  out.redirected = res.url !== req.url;
  return out;
}

module.exports = { fetch, Headers, Request, Response, encodeBody, performHttp, STATUS_TEXT, kList, DOMException };
