// `undici`, host-backed: request(), Agent/Pool/Client (+compose), interceptors.redirect /
// decompress / retry, TLS options (`connect: { rejectUnauthorized, ca, cert, key }`; one host
// client per distinct set), FormData, response { statusCode, headers, body.json() / text() /
// arrayBuffer() }, MockAgent/MockPool and the global dispatcher. Requests go through the host
// HTTP client (tokio + reqwest) under the embedder's host policy. Decompression (br, gzip,
// deflate) is always done by the host, which drops content-encoding/content-length as the
// decompress interceptor does, with or without the interceptor.
'use strict';
const { Readable } = require('stream');
const { Buffer } = require('buffer');
const querystring = require('querystring');
const { fetch, Headers, Request, Response, encodeBody, performHttp } = require('internal:builtins/internal_fetch.js');
const { FormData, File, Blob } = require('internal:builtins/internal_web.js');
const { utf8Decode } = require('internal:builtins/internal_encoding.js');

class UndiciError extends Error {
  constructor(message) { super(message); this.name = 'UndiciError'; this.code = 'UND_ERR'; }
}
const makeError = (name, code) => class extends UndiciError {
  constructor(message) { super(message); this.name = name; this.code = code; }
};
const errors = {
  UndiciError,
  ConnectTimeoutError: makeError('ConnectTimeoutError', 'UND_ERR_CONNECT_TIMEOUT'),
  HeadersTimeoutError: makeError('HeadersTimeoutError', 'UND_ERR_HEADERS_TIMEOUT'),
  BodyTimeoutError: makeError('BodyTimeoutError', 'UND_ERR_BODY_TIMEOUT'),
  RequestAbortedError: makeError('AbortError', 'UND_ERR_ABORTED'),
  InvalidArgumentError: makeError('InvalidArgumentError', 'UND_ERR_INVALID_ARG'),
  SocketError: makeError('SocketError', 'UND_ERR_SOCKET'),
  ResponseStatusCodeError: makeError('ResponseStatusCodeError', 'UND_ERR_RESPONSE_STATUS_CODE'),
  MockNotMatchedError: makeError('MockNotMatchedError', 'UND_MOCK_ERR_MOCK_NOT_MATCHED'),
  ClientDestroyedError: makeError('ClientDestroyedError', 'UND_ERR_DESTROYED'),
  ClientClosedError: makeError('ClientClosedError', 'UND_ERR_CLOSED'),
  NotSupportedError: makeError('NotSupportedError', 'UND_ERR_NOT_SUPPORTED'),
};

function headerPairs(headers) {
  const out = [];
  if (!headers) return out;
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) { for (const [k, v] of headers) out.push([String(k), String(v)]); }
    else for (let i = 0; i + 1 < headers.length; i += 2) out.push([String(headers[i]), String(headers[i + 1])]);
  } else if (headers instanceof Headers || typeof headers.entries === 'function' && typeof headers.get === 'function') {
    for (const [k, v] of headers.entries()) out.push([k, v]);
  } else {
    for (const k of Object.keys(headers)) {
      const v = headers[k];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
      else out.push([k, String(v)]);
    }
  }
  return out;
}

function headersObject(pairs) {
  const o = {};
  for (const [k0, v] of pairs) {
    const k = k0.toLowerCase();
    if (k in o) o[k] = Array.isArray(o[k]) ? o[k].concat([v]) : [o[k], v];
    else o[k] = v;
  }
  return o;
}

// The body of a response: a Readable with the fetch body mixin.
function makeBody(bytes, headers) {
  const buf = Buffer.from(bytes.buffer ? bytes.buffer : bytes, bytes.byteOffset || 0, bytes.byteLength);
  let used = false;
  const body = new Readable({ read() {} });
  if (buf.length) body.push(buf);
  body.push(null);
  const take = () => {
    if (used) return Promise.reject(new TypeError('unusable'));
    used = true;
    return Promise.resolve(buf);
  };
  Object.defineProperty(body, 'bodyUsed', { get: () => used });
  body.text = async () => utf8Decode(await take(), false);
  body.json = async () => JSON.parse(utf8Decode(await take(), false));
  body.arrayBuffer = async () => { const b = await take(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); };
  body.bytes = async () => new Uint8Array(await body.arrayBuffer());
  body.blob = async () => new Blob([await take()], { type: headers['content-type'] || '' });
  body.formData = async () => { throw new errors.NotSupportedError('formData is not supported'); };
  body.dump = async () => { used = true; };
  return body;
}

function buildUrl(origin, path, query) {
  let url;
  if (origin) {
    const o = String(origin instanceof URL ? origin.origin : origin).replace(/\/$/, '');
    url = o + (path ? (String(path).startsWith('/') ? path : '/' + path) : '/');
  } else url = String(path);
  if (query && typeof query === 'object' && Object.keys(query).length) {
    const qs = querystring.stringify(query);
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  }
  return url;
}

class Dispatcher extends require('events') {
  constructor(opts = {}) {
    super();
    this._opts = opts;
    this._closed = false;
  }
  // Options that shape a request: redirects and TLS.
  _settings() {
    const o = this._opts || {};
    const connect = o.connect && typeof o.connect === 'object' ? o.connect : {};
    return {
      maxRedirections: o.maxRedirections,
      tls: { rejectUnauthorized: connect.rejectUnauthorized, ca: connect.ca, cert: connect.cert, key: connect.key, pfx: connect.pfx },
      timeout: o.headersTimeout || o.bodyTimeout,
    };
  }
  async request(opts = {}) {
    if (this._closed) throw new errors.ClientClosedError('The client is closed');
    const settings = Object.assign({}, this._settings());
    const origin = opts.origin || this._origin;
    const url = buildUrl(origin, opts.path, opts.query);
    const method = String(opts.method || 'GET').toUpperCase();
    const pairs = headerPairs(opts.headers);
    let body = opts.body;
    if (body instanceof Readable) {
      const chunks = [];
      for await (const c of body) chunks.push(Buffer.from(c));
      body = Buffer.concat(chunks);
    }
    const { bytes, contentType } = await encodeBody(body);
    if (contentType && (body instanceof FormData || !pairs.some(([k]) => k.toLowerCase() === 'content-type')) && typeof body !== 'string') {
      if (!pairs.some(([k]) => k.toLowerCase() === 'content-type')) pairs.push(['content-type', contentType]);
    }
    const maxRedirections = opts.maxRedirections !== undefined ? opts.maxRedirections : settings.maxRedirections;
    const timeout = opts.headersTimeout || opts.bodyTimeout || settings.timeout;
    const res = await this._perform(Object.assign({ method, url, headers: pairs, body: bytes, maxRedirections, timeout }, settings.tls), opts);
    const headers = headersObject(res.headers);
    const out = {
      statusCode: res.status,
      headers,
      trailers: {},
      opaque: opts.opaque === undefined ? null : opts.opaque,
      context: {},
      body: makeBody(new Uint8Array(res.body), headers),
    };
    if (opts.throwOnError && res.status >= 400) {
      const e = new errors.ResponseStatusCodeError(`Response status code ${res.status}`);
      e.status = e.statusCode = res.status;
      e.headers = headers;
      throw e;
    }
    return out;
  }
  _perform(req, opts) {
    return performHttp(req, opts.signal);
  }
  compose(...interceptors) {
    const list = interceptors.flat();
    const parent = this;
    const composed = Object.create(parent);
    composed._opts = Object.assign({}, parent._opts);
    for (const i of list) {
      if (i && i._openfn) Object.assign(composed._opts, i._openfn);
    }
    return composed;
  }
  dispatch() {
    throw new errors.NotSupportedError('Dispatcher.dispatch is not supported by the OpenFn undici; use request()');
  }
  async close() { this._closed = true; }
  async destroy() { this._closed = true; }
  get closed() { return this._closed; }
  get destroyed() { return this._closed; }
  stream() { throw new errors.NotSupportedError('stream() is not supported by the OpenFn undici'); }
  pipeline() { throw new errors.NotSupportedError('pipeline() is not supported by the OpenFn undici'); }
  connect() { throw new errors.NotSupportedError('connect() is not supported by the OpenFn undici'); }
  upgrade() { throw new errors.NotSupportedError('upgrade() is not supported by the OpenFn undici'); }
}
class Agent extends Dispatcher {}
class Pool extends Dispatcher {
  constructor(origin, opts) { super(opts); this._origin = origin; }
}
class Client extends Pool {}
class BalancedPool extends Pool {
  constructor(upstreams, opts) { super(Array.isArray(upstreams) ? upstreams[0] : upstreams, opts); }
}
class ProxyAgent extends Agent {
  constructor() { super(); throw new errors.NotSupportedError('ProxyAgent is not available in the OpenFn adaptor sandbox'); }
}
class EnvHttpProxyAgent extends Agent {}
class RetryAgent extends Dispatcher {
  constructor(dispatcher, opts) { super(opts); this._inner = dispatcher; }
  request(opts) { return this._inner.request(opts); }
}

const interceptors = {
  redirect: (opts = {}) => Object.assign((dispatch) => dispatch, { _openfn: { maxRedirections: opts.maxRedirections } }),
  decompress: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
  retry: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
  dump: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
  dns: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
  responseError: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
  cache: () => Object.assign((dispatch) => dispatch, { _openfn: {} }),
};

// ---- mocks ----
function sortedQuery(search) {
  const p = new URLSearchParams(search);
  p.sort();
  return p.toString();
}
function matchValue(matcher, value) {
  if (typeof matcher === 'function') return !!matcher(value);
  if (matcher instanceof RegExp) return matcher.test(value);
  return matcher === value;
}
function matchPath(matcher, path, query) {
  const full = query ? buildUrl('', path, query) : path;
  if (typeof matcher === 'function' || matcher instanceof RegExp) return matchValue(matcher, full);
  const norm = (p) => { const i = p.indexOf('?'); return i < 0 ? p : p.slice(0, i) + '?' + sortedQuery(p.slice(i + 1)); };
  return norm(String(matcher)) === norm(full);
}
class MockInterceptor {
  constructor(opts, pool) {
    this._opts = opts;
    this._pool = pool;
    this._times = 1;
    this._persist = false;
    this._reply = null;
    this._error = null;
    this._delay = 0;
    this._used = 0;
  }
  reply(statusOrFn, data, responseOptions = {}) {
    this._reply = typeof statusOrFn === 'function' ? { fn: statusOrFn } : { statusCode: statusOrFn, data, responseOptions };
    this._pool._interceptors.push(this);
    return new MockScope(this);
  }
  replyWithError(error) {
    this._error = error;
    this._pool._interceptors.push(this);
    return new MockScope(this);
  }
  defaultReplyHeaders(h) { this._defaultHeaders = h; return this; }
  defaultReplyTrailers() { return this; }
  replyContentLength() { this._contentLength = true; return this; }
  _matches(req) {
    const o = this._opts;
    if (o.method && !matchValue(typeof o.method === 'string' ? o.method.toUpperCase() : o.method, req.method)) return false;
    const u = new URL(req.url);
    if (!matchPath(o.path, u.pathname + u.search, o.query)) {
      if (!(o.query && matchPath(buildUrl('', o.path, o.query), u.pathname + u.search))) return false;
    }
    if (o.body !== undefined) {
      const body = req.body ? utf8Decode(req.body, false) : '';
      if (!matchValue(o.body, body)) return false;
    }
    if (o.headers) {
      const h = headersObject(req.headers);
      if (typeof o.headers === 'function') { if (!o.headers(h)) return false; }
      else for (const k of Object.keys(o.headers)) if (!matchValue(o.headers[k], h[k.toLowerCase()])) return false;
    }
    return this._persist || this._used < this._times;
  }
}
class MockScope {
  constructor(i) { this._i = i; }
  delay(ms) { this._i._delay = ms; return this; }
  persist() { this._i._persist = true; return this; }
  times(n) { this._i._times = n; return this; }
}
class MockPool extends Dispatcher {
  constructor(origin, agent) {
    super({});
    this._origin = origin;
    this._agent = agent;
    this._interceptors = [];
  }
  intercept(opts) { return new MockInterceptor(opts, this); }
  async _perform(req, opts) {
    const i = this._interceptors.find((x) => x._matches(req));
    if (!i) {
      if (this._agent && this._agent._netConnect(req.url)) return performHttp(req, opts.signal);
      throw new errors.MockNotMatchedError(`Mock dispatch not matched for path '${new URL(req.url).pathname}': subsequent request to origin ${new URL(req.url).origin} was not allowed (net.connect disabled)`);
    }
    i._used++;
    if (i._delay) await new Promise((r) => setTimeout(r, i._delay));
    if (i._error) throw i._error;
    let { statusCode, data, responseOptions } = i._reply;
    if (i._reply.fn) {
      const u = new URL(req.url);
      const r = await i._reply.fn({ path: u.pathname + u.search, method: req.method, headers: headersObject(req.headers), body: req.body ? utf8Decode(req.body, false) : undefined, origin: u.origin });
      if (r && typeof r === 'object' && 'statusCode' in r) ({ statusCode, data, responseOptions = {} } = r);
      else { statusCode = 200; data = r; responseOptions = {}; }
    }
    const bytes = data === undefined || data === null ? new Uint8Array(0) : typeof data === 'string' ? Buffer.from(data) : ArrayBuffer.isView(data) || data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(JSON.stringify(data));
    const headers = headerPairs(Object.assign({}, i._defaultHeaders || {}, (responseOptions && responseOptions.headers) || {}));
    if (i._contentLength) headers.push(['content-length', String(bytes.length)]);
    return { status: statusCode, url: req.url, headers, body: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
  }
  pendingInterceptors() { return this._interceptors.filter((i) => !i._persist && i._used < i._times); }
}
class MockAgent extends Agent {
  constructor(opts) {
    super(opts);
    this._pools = new Map();
    this._net = true;
  }
  get(origin) {
    const key = String(origin instanceof URL ? origin.origin : origin).replace(/\/$/, '');
    if (!this._pools.has(key)) this._pools.set(key, new MockPool(key, this));
    return this._pools.get(key);
  }
  disableNetConnect() { this._net = false; }
  enableNetConnect(matcher) {
    if (matcher === undefined) this._net = true;
    else { if (!Array.isArray(this._net)) this._net = []; this._net.push(matcher); }
  }
  _netConnect(url) {
    if (this._net === true) return true;
    if (this._net === false) return false;
    const host = new URL(url).host;
    return this._net.some((m) => matchValue(m, host));
  }
  activate() {}
  deactivate() {}
  _perform(req, opts) {
    const origin = new URL(req.url).origin;
    const pool = this._pools.get(origin);
    if (pool) return pool._perform(req, opts);
    if (this._netConnect(req.url)) return performHttp(req, opts.signal);
    throw new errors.MockNotMatchedError(`Mock dispatch not matched for path '${new URL(req.url).pathname}': subsequent request to origin ${origin} was not allowed (net.connect disabled)`);
  }
  pendingInterceptors() { return [...this._pools.values()].flatMap((p) => p.pendingInterceptors()); }
  assertNoPendingInterceptors() {
    const p = this.pendingInterceptors();
    if (p.length) throw new UndiciError(`${p.length} interceptor${p.length > 1 ? 's are' : ' is'} pending`);
  }
}
class MockClient extends MockPool {}

// The global dispatcher lives where undici keeps it, so the global `fetch` uses it too.
const kGlobalDispatcher = Symbol.for('undici.globalDispatcher.1');
if (!globalThis[kGlobalDispatcher]) Object.defineProperty(globalThis, kGlobalDispatcher, { value: new Agent(), writable: true, enumerable: false, configurable: false });
function setGlobalDispatcher(d) { globalThis[kGlobalDispatcher] = d; }
function getGlobalDispatcher() { return globalThis[kGlobalDispatcher]; }

function request(url, opts = {}) {
  const u = typeof url === 'string' ? new URL(url) : url instanceof URL ? url : new URL(url.origin + (url.path || url.pathname || '/'));
  const dispatcher = opts.dispatcher || getGlobalDispatcher();
  return dispatcher.request(Object.assign({}, opts, { origin: u.origin, path: u.pathname + u.search, method: opts.method || 'GET' }));
}

module.exports = {
  request,
  fetch,
  Headers,
  Request,
  Response,
  FormData,
  File,
  Dispatcher,
  Agent,
  Pool,
  Client,
  BalancedPool,
  ProxyAgent,
  EnvHttpProxyAgent,
  RetryAgent,
  MockAgent,
  MockPool,
  MockClient,
  interceptors,
  errors,
  setGlobalDispatcher,
  getGlobalDispatcher,
  buildConnector: () => () => { throw new errors.NotSupportedError('raw connections are not available'); },
  stream: () => { throw new errors.NotSupportedError('stream() is not supported by the OpenFn undici'); },
  pipeline: () => { throw new errors.NotSupportedError('pipeline() is not supported by the OpenFn undici'); },
  connect: () => { throw new errors.NotSupportedError('connect() is not supported by the OpenFn undici'); },
  upgrade: () => { throw new errors.NotSupportedError('upgrade() is not supported by the OpenFn undici'); },
  WebSocket: class WebSocket { constructor() { throw new errors.NotSupportedError('WebSocket is not available in the OpenFn adaptor sandbox'); } },
  util: { parseHeaders: (h) => headersObject(headerPairs(h)), headerNameToString: (n) => String(n).toLowerCase() },
};
