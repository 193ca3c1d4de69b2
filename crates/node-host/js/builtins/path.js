// The `path` built-in (POSIX semantics; `win32` is the same object). The working directory
// is `/`.
'use strict';
function assertPath(p) {
  if (typeof p !== 'string') { const e = new TypeError('The "path" argument must be of type string. Received ' + typeof p); e.code = 'ERR_INVALID_ARG_TYPE'; throw e; }
}
function normalizeString(path, allowAbove) {
  const out = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length && out[out.length - 1] !== '..') out.pop();
      else if (allowAbove) out.push('..');
    } else out.push(seg);
  }
  return out.join('/');
}
const posix = {
  sep: '/',
  delimiter: ':',
  resolve(...args) {
    let resolved = '';
    let abs = false;
    for (let i = args.length - 1; i >= -1 && !abs; i--) {
      const p = i >= 0 ? args[i] : '/';
      assertPath(p);
      if (!p) continue;
      resolved = p + '/' + resolved;
      abs = p[0] === '/';
    }
    const n = normalizeString(resolved, !abs);
    return abs ? '/' + n : n || '.';
  },
  normalize(p) {
    assertPath(p);
    if (!p) return '.';
    const abs = p[0] === '/';
    const trailing = p[p.length - 1] === '/';
    let n = normalizeString(p, !abs);
    if (!n && !abs) n = '.';
    if (n && trailing) n += '/';
    return abs ? '/' + n : n;
  },
  isAbsolute(p) { assertPath(p); return p.length > 0 && p[0] === '/'; },
  join(...args) {
    if (args.length === 0) return '.';
    const parts = [];
    for (const a of args) { assertPath(a); if (a) parts.push(a); }
    return parts.length ? posix.normalize(parts.join('/')) : '.';
  },
  relative(from, to) {
    assertPath(from); assertPath(to);
    from = posix.resolve(from); to = posix.resolve(to);
    if (from === to) return '';
    const f = from.split('/').filter(Boolean);
    const t = to.split('/').filter(Boolean);
    let i = 0;
    while (i < f.length && i < t.length && f[i] === t[i]) i++;
    return f.slice(i).map(() => '..').concat(t.slice(i)).join('/');
  },
  dirname(p) {
    assertPath(p);
    if (!p) return '.';
    let end = p.length;
    while (end > 1 && p[end - 1] === '/') end--;
    const i = p.lastIndexOf('/', end - 1);
    if (i < 0) return '.';
    if (i === 0) return '/';
    let j = i;
    while (j > 1 && p[j - 1] === '/') j--;
    return p.slice(0, j);
  },
  basename(p, ext) {
    assertPath(p);
    let end = p.length;
    while (end > 1 && p[end - 1] === '/') end--;
    p = p.slice(0, end);
    let b = p.slice(p.lastIndexOf('/') + 1);
    if (ext !== undefined && b.endsWith(ext) && b !== ext) b = b.slice(0, b.length - ext.length);
    return b;
  },
  extname(p) {
    const b = posix.basename(p);
    const i = b.lastIndexOf('.');
    return i <= 0 ? '' : b.slice(i);
  },
  parse(p) {
    assertPath(p);
    const root = p[0] === '/' ? '/' : '';
    const base = posix.basename(p);
    const ext = posix.extname(p);
    let dir = posix.dirname(p);
    if (dir === '.' && !p.includes('/')) dir = '';
    return { root, dir, base, ext, name: ext ? base.slice(0, -ext.length) : base };
  },
  format(o) {
    const dir = o.dir || o.root;
    const base = o.base || (o.name || '') + (o.ext ? (o.ext[0] === '.' ? '' : '.') + o.ext : '');
    if (!dir) return base;
    return dir === o.root ? dir + base : dir + '/' + base;
  },
  toNamespacedPath: (p) => p,
  matchesGlob() { throw new Error('path.matchesGlob is not available in the OpenFn adaptor sandbox'); },
};
posix.posix = posix;
posix.win32 = posix;
module.exports = posix;
