// Bootstrap of the adaptor realm: the CommonJS module system, built-in module registry and
// Node-style globals. Evaluated once per context by `NodeHost::install`; receives the host
// object (Rust functions) and returns the internal object the Rust loader talks to. Nothing
// of `host` is reachable from adaptor code except through the functions defined here.
(function (host) {
  'use strict';
  const G = globalThis;
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  // ---- path helpers (posix) used by the module system ----
  function dirname(p) {
    const i = p.lastIndexOf('/');
    if (i < 0) return '.';
    if (i === 0) return '/';
    return p.slice(0, i);
  }
  function normalizeParts(p) {
    const out = [];
    for (const seg of p.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') out.pop();
      else out.push(seg);
    }
    return out.join('/');
  }

  // ---- module registry ----
  const cache = new Map(); // id -> Module
  const builtinNames = new Set(host.builtinNames());
  const internalNames = new Set(host.internalNames());
  // Bare names internal (vendored) modules may require, beyond built-ins.
  const internalPackages = {
    inherits: 'vendor/inherits/inherits_browser.js',
    'util-deprecate': 'vendor/util-deprecate/browser.js',
    'base64-js': 'vendor/base64-js/index.js',
    ieee754: 'vendor/ieee754/index.js',
    'safe-buffer': 'node:buffer',
    'string_decoder/': 'node:string_decoder',
  };

  function builtinId(spec) {
    let name = spec.startsWith('node:') ? spec.slice(5) : spec;
    if (name.endsWith('/') && name !== '/') name = name.slice(0, -1);
    return builtinNames.has(name) ? 'node:' + name : null;
  }

  function Module(id, parent) {
    this.id = id;
    this.filename = id;
    this.path = dirname(id);
    this.exports = {};
    this.loaded = false;
    this.children = [];
    this.paths = [];
    this.parent = parent;
  }
  Module.prototype.require = function (spec) {
    return makeRequire(this)(spec);
  };

  // The one error for missing and not allowed modules: the specifier as given, nothing else.
  function notFound(spec) {
    const e = new Error(`Cannot find module '${spec}'`);
    e.code = 'MODULE_NOT_FOUND';
    return e;
  }

  function resolveFrom(spec, parentId) {
    const b = builtinId(spec);
    if (b) return b;
    const privileged = parentId.startsWith('internal:') || parentId.startsWith('node:');
    if (privileged && spec.startsWith('internal:')) {
      if (internalNames.has(spec.slice(9))) return spec;
      throw notFound(spec);
    }
    if (parentId.startsWith('internal:')) {
      const key = parentId.slice(9);
      if (spec.startsWith('.')) {
        const base = normalizeParts(dirname(key) + '/' + spec);
        for (const cand of [base, base + '.js', base + '/index.js']) {
          if (internalNames.has(cand)) return 'internal:' + cand;
        }
        throw notFound(spec);
      }
      const mapped = internalPackages[spec];
      if (mapped) return mapped.startsWith('node:') ? mapped : 'internal:' + mapped;
      throw notFound(spec);
    }
    if (parentId.startsWith('node:')) throw notFound(spec);
    return host.resolve(spec, dirname(parentId), 'require');
  }

  function makeRequire(parent) {
    const require = function require(spec) {
      if (typeof spec !== 'string') {
        throw new TypeError('The "id" argument must be of type string. Received ' + typeof spec);
      }
      const id = resolveFrom(spec, parent.id);
      return loadModule(id, parent).exports;
    };
    require.resolve = function resolve(spec) {
      const id = resolveFrom(spec, parent.id);
      return id.startsWith('node:') ? id.slice(5) : id;
    };
    require.resolve.paths = () => null;
    require.cache = cacheView;
    require.main = undefined;
    require.extensions = {};
    return require;
  }

  const cacheView = new Proxy({}, {
    get: (_t, k) => (typeof k === 'string' ? cache.get(k) : undefined),
    has: (_t, k) => cache.has(k),
    deleteProperty: (_t, k) => cache.delete(k),
    ownKeys: () => [...cache.keys()],
    getOwnPropertyDescriptor: (_t, k) =>
      cache.has(k) ? { value: cache.get(k), enumerable: true, configurable: true, writable: true } : undefined,
  });

  const WRAP_ARGS = ['exports', 'require', 'module', '__filename', '__dirname'];

  function loadModule(id, parent) {
    const cached = cache.get(id);
    if (cached) return cached;
    const m = new Module(id, parent);
    cache.set(id, m);
    if (parent && parent.children) parent.children.push(m);
    try {
      if (id.startsWith('node:')) {
        const key = 'builtins/' + id.slice(5).replace(/\//g, '_') + '.js';
        const fn = host.compileInternal(key, 'node:' + id.slice(5));
        fn.call(m.exports, m.exports, makeRequire(m), m, id, '/', binding);
      } else if (id.startsWith('internal:')) {
        const key = id.slice(9);
        const fn = host.compileInternal(key, id);
        fn.call(m.exports, m.exports, makeRequire(m), m, id, dirname(id), binding);
      } else {
        const kind = host.kind(id);
        if (kind === 'json') {
          m.exports = JSON.parse(host.readText(id));
        } else if (kind === 'esm') {
          const e = new Error(`require() of ES Module ${id} is not supported`);
          e.code = 'ERR_REQUIRE_ESM';
          throw e;
        } else {
          const fn = host.compileFile(id);
          fn.call(m.exports, m.exports, makeRequire(m), m, id, dirname(id));
        }
      }
      m.loaded = true;
    } catch (e) {
      cache.delete(id);
      throw e;
    }
    return m;
  }

  // What built-in and vendored modules (and only they) receive as their sixth argument.
  const binding = {
    host,
    createRequire: (filename) => makeRequire(new Module(String(filename), null)),
    builtinModules: [...builtinNames].filter((n) => n !== 'undici'),
  };

  function requireBuiltin(name) {
    return loadModule('node:' + name, null).exports;
  }

  // ---- globals (order matters: later modules use earlier globals) ----
  define(G, 'global', G);
  const process = requireBuiltin('process');
  define(G, 'process', process);
  const { Buffer } = requireBuiltin('buffer');
  define(G, 'Buffer', Buffer);
  const timers = requireBuiltin('timers');
  for (const k of ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate']) {
    define(G, k, timers[k]);
  }
  const enc = loadModule('internal:builtins/internal_encoding.js', null).exports;
  define(G, 'TextEncoder', enc.TextEncoder);
  define(G, 'TextDecoder', enc.TextDecoder);
  const url = requireBuiltin('url');
  define(G, 'URL', url.URL);
  define(G, 'URLSearchParams', url.URLSearchParams);
  const web = loadModule('internal:builtins/internal_web.js', null).exports;
  for (const k of ['AbortController', 'AbortSignal', 'Event', 'EventTarget', 'DOMException', 'structuredClone', 'Blob', 'File', 'FormData']) {
    define(G, k, web[k]);
  }
  const console = requireBuiltin('console');
  define(G, 'console', console);
  const crypto = requireBuiltin('crypto');
  define(G, 'crypto', crypto.webcrypto);
  const streamWeb = requireBuiltin('stream/web');
  for (const k of ['ReadableStream', 'WritableStream', 'TransformStream']) define(G, k, streamWeb[k]);
  const fetchMod = loadModule('internal:builtins/internal_fetch.js', null).exports;
  for (const k of ['fetch', 'Headers', 'Request', 'Response']) define(G, k, fetchMod[k]);

  // ---- the internal object the Rust loader uses ----
  const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  return {
    // Loads a CommonJS/JSON file or a built-in for an ESM importer; returns the exports.
    esmExports(id) {
      return loadModule(id, null).exports;
    },
    // Names usable as named ESM exports of a CommonJS module.
    exportNames(id) {
      const ex = loadModule(id, null).exports;
      if (ex === null || (typeof ex !== 'object' && typeof ex !== 'function')) return [];
      const names = [];
      for (const k of Object.keys(ex)) {
        if (k !== 'default' && IDENT.test(k)) names.push(k);
      }
      return names;
    },
    require(id) {
      return loadModule(id, null).exports;
    },
    createRequire: binding.createRequire,
  };
})
