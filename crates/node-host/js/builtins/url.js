// The `url` built-in and the URL/URLSearchParams globals. Parsing is done by the host (the
// `url` crate, WHATWG); URLSearchParams is JS.
'use strict';
const { host } = binding;
const FIELDS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
const kParts = Symbol('parts');
const kParams = Symbol('params');

function invalid(input) {
  const e = new TypeError('Invalid URL');
  e.code = 'ERR_INVALID_URL';
  e.input = input;
  return e;
}
function toObj(arr) {
  const o = {};
  FIELDS.forEach((f, i) => { o[f] = arr[i]; });
  return o;
}

class URL {
  constructor(input, base) {
    input = String(input);
    const parts = base === undefined ? host.urlParse(input) : host.urlParse(input, String(base instanceof URL ? base.href : base));
    if (!parts) throw invalid(input);
    this[kParts] = toObj(parts);
    this[kParams] = null;
  }
  static canParse(input, base) {
    try { new URL(input, base); return true; } catch (e) { return false; }
  }
  static parse(input, base) {
    try { return new URL(input, base); } catch (e) { return null; }
  }
  _set(field, value) {
    const parts = host.urlSet(this[kParts].href, field, String(value));
    if (parts) this[kParts] = toObj(parts);
    else if (field === 'href') throw invalid(value);
  }
  get href() { return this[kParts].href; }
  set href(v) { this._set('href', v); if (this[kParams]) this[kParams]._reset(this[kParts].search); }
  get origin() { return this[kParts].origin; }
  get protocol() { return this[kParts].protocol; }
  set protocol(v) { this._set('protocol', v); }
  get username() { return this[kParts].username; }
  set username(v) { this._set('username', v); }
  get password() { return this[kParts].password; }
  set password(v) { this._set('password', v); }
  get host() { return this[kParts].host; }
  set host(v) { this._set('host', v); }
  get hostname() { return this[kParts].hostname; }
  set hostname(v) { this._set('hostname', v); }
  get port() { return this[kParts].port; }
  set port(v) { this._set('port', v); }
  get pathname() { return this[kParts].pathname; }
  set pathname(v) { this._set('pathname', v); }
  get search() { return this[kParts].search; }
  set search(v) { this._set('search', v); if (this[kParams]) this[kParams]._reset(this[kParts].search); }
  get hash() { return this[kParts].hash; }
  set hash(v) { this._set('hash', v); }
  get searchParams() {
    if (!this[kParams]) {
      this[kParams] = new URLSearchParams(this[kParts].search);
      this[kParams]._url = this;
    }
    return this[kParams];
  }
  toString() { return this.href; }
  toJSON() { return this.href; }
  [Symbol.for('nodejs.util.inspect.custom')]() { return `URL { href: '${this.href}' }`; }
  static createObjectURL() { throw new Error('URL.createObjectURL is not available in the OpenFn adaptor sandbox'); }
  static revokeObjectURL() {}
}

function formEncode(s) {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
function formDecode(s) {
  s = s.replace(/\+/g, ' ');
  try { return decodeURIComponent(s); } catch (e) {
    return s.replace(/%([0-9a-fA-F]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
  }
}
class URLSearchParams {
  constructor(init = '') {
    this._list = [];
    this._url = null;
    if (init instanceof URLSearchParams) this._list = init._list.map((e) => e.slice());
    else if (typeof init === 'object' && init !== null) {
      if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
          this._list.push([String(p[0]), String(p[1])]);
        }
      } else for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
    } else this._parse(String(init));
  }
  _parse(s) {
    this._list = [];
    if (s.startsWith('?')) s = s.slice(1);
    for (const part of s.split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      this._list.push(i < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, i)), formDecode(part.slice(i + 1))]);
    }
  }
  _reset(search) { this._parse(search || ''); }
  _update() { if (this._url) { const s = this.toString(); this._url._set('search', s ? '?' + s : ''); } }
  get size() { return this._list.length; }
  append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
  delete(k, v) { this._list = this._list.filter(([a, b]) => !(a === String(k) && (v === undefined || b === String(v)))); this._update(); }
  get(k) { const e = this._list.find(([a]) => a === String(k)); return e ? e[1] : null; }
  getAll(k) { return this._list.filter(([a]) => a === String(k)).map(([, b]) => b); }
  has(k, v) { return this._list.some(([a, b]) => a === String(k) && (v === undefined || b === String(v))); }
  set(k, v) {
    k = String(k);
    const i = this._list.findIndex(([a]) => a === k);
    if (i < 0) this._list.push([k, String(v)]);
    else { this._list[i][1] = String(v); this._list = this._list.filter(([a], j) => a !== k || j === i); }
    this._update();
  }
  sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
  forEach(cb, thisArg) { for (const [k, v] of this._list) cb.call(thisArg, v, k, this); }
  *keys() { for (const [k] of this._list) yield k; }
  *values() { for (const [, v] of this._list) yield v; }
  *entries() { for (const [k, v] of this._list) yield [k, v]; }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return this._list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
  get [Symbol.toStringTag]() { return 'URLSearchParams'; }
}

// Legacy API.
function Url() {
  this.protocol = null; this.slashes = null; this.auth = null; this.host = null; this.port = null;
  this.hostname = null; this.hash = null; this.search = null; this.query = null; this.pathname = null;
  this.path = null; this.href = null;
}
function parse(urlStr, parseQueryString) {
  if (urlStr instanceof Url) return urlStr;
  const qs = require('querystring');
  const out = new Url();
  const s = String(urlStr).trim();
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:)?(\/\/)?/.exec(s);
  if (m[1] && m[2]) {
    let u;
    try { u = new URL(s); } catch (e) { u = null; }
    if (u) {
      out.protocol = u.protocol; out.slashes = true;
      out.auth = u.username ? decodeURIComponent(u.username) + (u.password ? ':' + decodeURIComponent(u.password) : '') : null;
      out.host = u.host; out.port = u.port || null; out.hostname = u.hostname;
      out.hash = u.hash || null; out.search = u.search || null;
      out.pathname = u.pathname; out.path = u.pathname + (u.search || '');
      out.href = u.href;
      out.query = parseQueryString ? qs.parse((u.search || '').slice(1)) : (u.search ? u.search.slice(1) : null);
      return out;
    }
  }
  let rest = s;
  if (m[1]) { out.protocol = m[1].toLowerCase(); rest = rest.slice(m[1].length); }
  const h = rest.indexOf('#');
  if (h >= 0) { out.hash = rest.slice(h); rest = rest.slice(0, h); }
  const q = rest.indexOf('?');
  if (q >= 0) { out.search = rest.slice(q); rest = rest.slice(0, q); out.query = parseQueryString ? qs.parse(out.search.slice(1)) : out.search.slice(1); }
  else if (parseQueryString) { out.search = ''; out.query = {}; }
  out.pathname = rest || (out.protocol ? null : '');
  out.path = (out.pathname || '') + (out.search || '');
  out.href = s;
  return out;
}
function format(obj) {
  if (typeof obj === 'string') obj = parse(obj);
  if (obj instanceof URL) return obj.href;
  let auth = obj.auth ? encodeURIComponent(obj.auth).replace(/%3A/i, ':') + '@' : '';
  const protocol = obj.protocol ? (obj.protocol.endsWith(':') ? obj.protocol : obj.protocol + ':') : '';
  let hostPart = obj.host || (obj.hostname ? obj.hostname + (obj.port ? ':' + obj.port : '') : '');
  let pathname = obj.pathname || '';
  let search = obj.search || (obj.query && typeof obj.query === 'object' && Object.keys(obj.query).length ? '?' + require('querystring').stringify(obj.query) : '');
  if (search && search[0] !== '?') search = '?' + search;
  let hash = obj.hash || '';
  if (hash && hash[0] !== '#') hash = '#' + hash;
  const slashes = obj.slashes || /^(https?|ftp|gopher|file|wss?):$/.test(protocol) ? '//' : '';
  if (hostPart && pathname && pathname[0] !== '/') pathname = '/' + pathname;
  return protocol + (hostPart || auth ? slashes + auth + hostPart : '') + pathname + search + hash;
}
function resolve(from, to) {
  return new URL(to, new URL(from, 'resolve://')).href.replace(/^resolve:\/\/\/?/, from.startsWith('/') ? '/' : '');
}
function fileURLToPath(u) {
  const url = typeof u === 'string' ? new URL(u) : u;
  if (url.protocol !== 'file:') { const e = new TypeError('The URL must be of scheme file'); e.code = 'ERR_INVALID_URL_SCHEME'; throw e; }
  return decodeURIComponent(url.pathname);
}
function pathToFileURL(p) {
  return new URL('file://' + encodeURI(String(p)).replace(/\?/g, '%3F').replace(/#/g, '%23'));
}
module.exports = {
  URL, URLSearchParams, Url, parse, format, resolve, fileURLToPath, pathToFileURL,
  domainToASCII: (d) => host.domainToASCII(String(d)),
  domainToUnicode: (d) => String(d),
  urlToHttpOptions: (u) => ({ protocol: u.protocol, hostname: u.hostname, hash: u.hash, search: u.search, pathname: u.pathname, path: u.pathname + u.search, href: u.href, port: u.port ? Number(u.port) : undefined, auth: u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined }),
};
