// TextEncoder and TextDecoder (UTF-8, UTF-16LE, latin1), in JS.
'use strict';
function utf8Encode(str) {
  const s = String(str);
  const out = new Uint8Array(s.length * 3);
  let p = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out[p++] = c;
    else if (c < 0x800) { out[p++] = 0xc0 | (c >> 6); out[p++] = 0x80 | (c & 63); }
    else if (c < 0x10000) { out[p++] = 0xe0 | (c >> 12); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
    else { out[p++] = 0xf0 | (c >> 18); out[p++] = 0x80 | ((c >> 12) & 63); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
  }
  return out.slice(0, p);
}
function utf8Decode(bytes, fatal) {
  let out = '';
  const parts = [];
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let c = -1;
    let n = 0;
    if (b < 0x80) { c = b; n = 1; }
    else if (b >= 0xc2 && b < 0xe0) { n = 2; c = b & 31; }
    else if (b >= 0xe0 && b < 0xf0) { n = 3; c = b & 15; }
    else if (b >= 0xf0 && b < 0xf5) { n = 4; c = b & 7; }
    if (n === 0 || i + n > bytes.length) c = -1;
    else {
      for (let k = 1; k < n; k++) {
        const x = bytes[i + k];
        if ((x & 0xc0) !== 0x80) { c = -1; break; }
        c = (c << 6) | (x & 63);
      }
      if (c !== -1 && ((n === 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n === 4 && (c < 0x10000 || c > 0x10ffff)))) c = -1;
    }
    if (c === -1) {
      if (fatal) { const e = new TypeError('The encoded data was not valid for encoding utf-8'); e.code = 'ERR_ENCODING_INVALID_ENCODED_DATA'; throw e; }
      out += '\ufffd';
      i += 1;
      // skip continuation bytes of a truncated sequence
      while (n > 1 && i < bytes.length && (bytes[i] & 0xc0) === 0x80 && n-- > 1) i++;
    } else {
      out += c < 0x10000 ? String.fromCharCode(c) : String.fromCharCode(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 1023));
      i += n;
    }
    if (out.length > 8192) { parts.push(out); out = ''; }
  }
  parts.push(out);
  return parts.join('');
}
function toBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (input instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && input instanceof SharedArrayBuffer)) return new Uint8Array(input);
  throw new TypeError('The "input" argument must be an instance of ArrayBuffer or ArrayBufferView');
}
class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(s = '') { return utf8Encode(s); }
  encodeInto(s, dest) { const b = utf8Encode(s); const n = Math.min(b.length, dest.length); dest.set(b.subarray(0, n)); return { read: s.length, written: n }; }
}
const LABELS = { 'utf-8': 'utf-8', utf8: 'utf-8', 'unicode-1-1-utf-8': 'utf-8', 'utf-16le': 'utf-16le', 'utf-16': 'utf-16le', ucs2: 'utf-16le', 'ucs-2': 'utf-16le', latin1: 'latin1', 'iso-8859-1': 'latin1', ascii: 'latin1', 'us-ascii': 'latin1', 'windows-1252': 'latin1' };
class TextDecoder {
  constructor(label = 'utf-8', options = {}) {
    const enc = LABELS[String(label).trim().toLowerCase()];
    if (!enc) { const e = new RangeError(`The "${label}" encoding is not supported`); e.code = 'ERR_ENCODING_NOT_SUPPORTED'; throw e; }
    this._enc = enc;
    this._fatal = !!options.fatal;
    this._ignoreBOM = !!options.ignoreBOM;
    this._pending = null;
  }
  get encoding() { return this._enc === 'latin1' ? 'windows-1252' : this._enc; }
  get fatal() { return this._fatal; }
  get ignoreBOM() { return this._ignoreBOM; }
  decode(input, options = {}) {
    let bytes = toBytes(input);
    if (this._pending) { const m = new Uint8Array(this._pending.length + bytes.length); m.set(this._pending); m.set(bytes, this._pending.length); bytes = m; this._pending = null; }
    if (options.stream && this._enc === 'utf-8') {
      // keep an incomplete trailing sequence for the next call
      let k = bytes.length - 1, back = 0;
      while (k >= 0 && back < 3 && (bytes[k] & 0xc0) === 0x80) { k--; back++; }
      if (k >= 0) {
        const b = bytes[k];
        const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        if (need > back + 1) { this._pending = bytes.slice(k); bytes = bytes.subarray(0, k); }
      }
    }
    let s;
    if (this._enc === 'utf-8') s = utf8Decode(bytes, this._fatal);
    else if (this._enc === 'utf-16le') { s = ''; for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8)); }
    else { s = ''; for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]); }
    if (!this._ignoreBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    return s;
  }
}
module.exports = { TextEncoder, TextDecoder, utf8Encode, utf8Decode };
