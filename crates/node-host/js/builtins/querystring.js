// The `querystring` built-in.
'use strict';
function qsEscape(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
function qsUnescape(s) {
  try { return decodeURIComponent(s); } catch (e) {
    return s.replace(/%([0-9a-fA-F]{2})/g, (m, h) => String.fromCharCode(parseInt(h, 16)));
  }
}
function prim(v) {
  if (typeof v === 'string') return v;
  if ((typeof v === 'number' && isFinite(v)) || typeof v === 'bigint' || typeof v === 'boolean') return '' + v;
  return '';
}
function stringify(obj, sep = '&', eq = '=', options = {}) {
  const enc = options.encodeURIComponent || qsEscape;
  if (obj === null || typeof obj !== 'object') return '';
  const out = [];
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    const ks = enc(prim(k)) + eq;
    if (Array.isArray(v)) for (const x of v) out.push(ks + enc(prim(x)));
    else out.push(ks + enc(prim(v)));
  }
  return out.join(sep);
}
function parse(qs, sep = '&', eq = '=', options = {}) {
  const obj = Object.create(null);
  if (typeof qs !== 'string' || qs.length === 0) return obj;
  const dec = options.decodeURIComponent || qsUnescape;
  let parts = qs.split(sep);
  const max = options.maxKeys === undefined ? 1000 : options.maxKeys;
  if (max > 0) parts = parts.slice(0, max);
  for (const part of parts) {
    if (!part) continue;
    const i = part.indexOf(eq);
    const k = dec((i >= 0 ? part.slice(0, i) : part).replace(/\+/g, ' '));
    const v = i >= 0 ? dec(part.slice(i + eq.length).replace(/\+/g, ' ')) : '';
    if (!(k in obj)) obj[k] = v;
    else if (Array.isArray(obj[k])) obj[k].push(v);
    else obj[k] = [obj[k], v];
  }
  return obj;
}
module.exports = { parse, stringify, decode: parse, encode: stringify, escape: qsEscape, unescape: qsUnescape, unescapeBuffer: (s) => Buffer.from(qsUnescape(s)) };
