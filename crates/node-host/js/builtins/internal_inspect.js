// util.inspect and util.format, compact versions of Node's: enough for logs and error
// messages (objects, arrays, Maps, Sets, errors, dates, buffers, circular references).
'use strict';
const custom = Symbol.for('nodejs.util.inspect.custom');
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function quote(s) {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
}

function inspect(value, opts) {
  const o = Object.assign({ depth: 2, breakLength: 80, compact: 3, showHidden: false }, typeof opts === 'object' && opts ? opts : {});
  return fmt(value, o, 0, []);
}
inspect.custom = custom;
inspect.defaultOptions = { depth: 2 };

function fmtKey(k) {
  if (typeof k === 'symbol') return '[' + k.toString() + ']';
  return IDENT.test(k) ? k : quote(k);
}

function fmt(v, o, depth, seen) {
  switch (typeof v) {
    case 'string': return quote(v);
    case 'number': return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint': return v + 'n';
    case 'boolean': case 'undefined': return String(v);
    case 'symbol': return v.toString();
    case 'function': {
      const name = v.name ? ': ' + v.name : ' (anonymous)';
      const isClass = /^class\b/.test(Function.prototype.toString.call(v));
      const keys = Object.keys(v);
      const base = `[${isClass ? 'class' : 'Function'}${isClass ? (v.name ? ' ' + v.name : ' (anonymous)') : name}]`;
      if (keys.length === 0 || depth > o.depth) return base;
      return fmtObject(v, keys, o, depth, seen, base + ' ');
    }
  }
  if (v === null) return 'null';
  if (seen.includes(v)) return '[Circular *1]';
  if (typeof v[custom] === 'function' && v[custom] !== inspect) {
    const r = v[custom](o.depth - depth, o, inspect);
    return typeof r === 'string' ? r : fmt(r, o, depth, seen);
  }
  if (v instanceof Error) {
    const stack = v.stack ? String(v.stack) : '';
    const head = `${v.name}: ${v.message}`;
    const base = stack.includes(head) ? stack : head + (stack ? '\n' + stack : '');
    const keys = Object.keys(v).filter((k) => k !== 'stack' && k !== 'message');
    if (keys.length === 0 || depth > o.depth) return depth > 0 ? `[${base}]` : base;
    return fmtObject(v, keys, o, depth, seen, (depth > 0 ? `[${base}]` : base) + ' ');
  }
  if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();
  if (v instanceof RegExp) return String(v);
  if (v instanceof Promise) return 'Promise { <unknown> }';
  if (v instanceof WeakMap) return 'WeakMap { <items unknown> }';
  if (v instanceof WeakSet) return 'WeakSet { <items unknown> }';
  if (depth > o.depth) {
    if (Array.isArray(v)) return '[Array]';
    const n = ctorName(v);
    return n && n !== 'Object' ? `[${n}]` : '[Object]';
  }
  seen = seen.concat([v]);
  if (typeof Buffer === 'function' && Buffer.isBuffer(v)) {
    const hex = Array.from(v.subarray(0, 50), (b) => b.toString(16).padStart(2, '0'));
    return `<Buffer${hex.length ? ' ' + hex.join(' ') : ''}${v.length > 50 ? ` ... ${v.length - 50} more bytes` : ''}>`;
  }
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const items = Array.from(v.slice(0, 100), (x) => fmt(x, o, depth + 1, seen));
    if (v.length > 100) items.push(`... ${v.length - 100} more items`);
    return `${ctorName(v)}(${v.length}) ${wrap(items, '[', ']', o)}`;
  }
  if (v instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${v.byteLength} }`;
  if (Array.isArray(v)) {
    const items = [];
    const max = Math.min(v.length, 100);
    let holes = 0;
    for (let i = 0; i < max; i++) {
      if (!(i in v)) { holes++; continue; }
      if (holes) { items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`); holes = 0; }
      items.push(fmt(v[i], o, depth + 1, seen));
    }
    if (holes) items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
    if (v.length > 100) items.push(`... ${v.length - 100} more items`);
    for (const k of Object.keys(v)) if (!/^\d+$/.test(k)) items.push(`${fmtKey(k)}: ${fmt(v[k], o, depth + 1, seen)}`);
    if (o.showHidden) items.push(`[length]: ${v.length}`);
    return wrap(items, '[', ']', o);
  }
  if (v instanceof Map) {
    const items = [...v].map(([k, x]) => `${fmt(k, o, depth + 1, seen)} => ${fmt(x, o, depth + 1, seen)}`);
    return `Map(${v.size}) ` + wrap(items, '{', '}', o);
  }
  if (v instanceof Set) {
    const items = [...v].map((x) => fmt(x, o, depth + 1, seen));
    return `Set(${v.size}) ` + wrap(items, '{', '}', o);
  }
  const name = ctorName(v);
  const prefix = name === 'Object' ? '' : name === null ? '[Object: null prototype] ' : name + ' ';
  const keys = Object.keys(v).concat(Object.getOwnPropertySymbols(v).filter((s) => Object.prototype.propertyIsEnumerable.call(v, s)));
  if (keys.length === 0) return prefix + '{}';
  return fmtObject(v, keys, o, depth, seen, prefix);
}

function fmtObject(v, keys, o, depth, seen, prefix) {
  const items = keys.map((k) => {
    const d = Object.getOwnPropertyDescriptor(v, k);
    let val;
    if (d && (d.get || d.set)) val = d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]';
    else val = fmt(v[k], o, depth + 1, seen);
    return `${fmtKey(k)}: ${val}`;
  });
  return prefix + wrap(items, '{', '}', o);
}

function ctorName(v) {
  const proto = Object.getPrototypeOf(v);
  if (proto === null) return null;
  const c = proto.constructor;
  return c && typeof c.name === 'string' && c.name ? c.name : 'Object';
}

function wrap(items, open, close, o) {
  if (items.length === 0) return open + close;
  const one = `${open} ${items.join(', ')} ${close}`;
  if (one.length <= o.breakLength && !one.includes('\n')) return one;
  return `${open}\n${items.map((i) => '  ' + i.replace(/\n/g, '\n  ')).join(',\n')}\n${close}`;
}

function format(...args) {
  return formatWithOptions({}, ...args);
}

function formatWithOptions(opts, ...args) {
  if (args.length === 0) return '';
  const first = args[0];
  let i = 1;
  let out = '';
  if (typeof first === 'string') {
    out = first.replace(/%([sdifjoOc%])/g, (m, c) => {
      if (c === '%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      switch (c) {
        case 's': return typeof a === 'string' ? a : typeof a === 'bigint' ? a + 'n' : typeof a === 'object' && a !== null ? inspect(a, Object.assign({ depth: 1 }, opts)) : String(a);
        case 'd': return typeof a === 'bigint' ? a + 'n' : typeof a === 'symbol' ? 'NaN' : String(Number(a));
        case 'i': return typeof a === 'bigint' ? a + 'n' : String(parseInt(a));
        case 'f': return String(parseFloat(a));
        case 'j': try { return JSON.stringify(a); } catch (e) { return '[Circular]'; }
        case 'o': return inspect(a, Object.assign({ showHidden: true, showProxy: true, depth: 4 }, opts));
        case 'O': return inspect(a, opts);
        case 'c': return '';
      }
      return m;
    });
  } else {
    out = inspect(first, opts);
  }
  for (; i < args.length; i++) {
    const a = args[i];
    out += ' ' + (typeof a === 'string' ? a : inspect(a, opts));
  }
  return out;
}

module.exports = { inspect, format, formatWithOptions };
