// A `process` object with no access to the real process: empty env, fixed versions,
// nextTick on the microtask queue, and exit/abort/chdir that throw.
'use strict';
const notAvailable = (name) => function () {
  const e = new Error(`process.${name} is not available in the OpenFn adaptor sandbox`);
  e.code = 'ERR_NOT_AVAILABLE';
  throw e;
};
const start = Date.now();
const listeners = new Map();
function hrtime(prev) {
  const t = typeof performance !== 'undefined' ? performance.now() : Date.now() - start;
  const s = Math.floor(t / 1000);
  const ns = Math.floor((t % 1000) * 1e6);
  if (prev) {
    let ds = s - prev[0];
    let dns = ns - prev[1];
    if (dns < 0) { ds -= 1; dns += 1e9; }
    return [ds, dns];
  }
  return [s, ns];
}
hrtime.bigint = () => BigInt(Math.floor((typeof performance !== 'undefined' ? performance.now() : Date.now() - start) * 1e6));
const tty = (fd) => ({ fd, isTTY: false, columns: 80, write(chunk) { if (typeof console !== 'undefined') console.log(String(chunk).replace(/\n$/, '')); return true; }, on() { return this; }, once() { return this; }, end() {} });
const process = {
  title: 'node',
  version: 'v20.20.0',
  versions: { node: '20.20.0', v8: '11.3.244.8', uv: '1.46.0', modules: '115' },
  release: { name: 'node' },
  arch: 'x64',
  platform: 'linux',
  env: {},
  argv: ['node'],
  argv0: 'node',
  execArgv: [],
  execPath: '/usr/bin/node',
  pid: 1,
  ppid: 0,
  browser: false,
  exitCode: undefined,
  features: {},
  config: { variables: {} },
  stdout: tty(1),
  stderr: tty(2),
  stdin: { fd: 0, isTTY: false, on() { return this; } },
  cwd: () => '/',
  umask: () => 0o22,
  uptime: () => (Date.now() - start) / 1000,
  hrtime,
  memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }),
  cpuUsage: () => ({ user: 0, system: 0 }),
  resourceUsage: () => ({}),
  nextTick(fn, ...args) {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be of type function');
    queueMicrotask(() => fn(...args));
  },
  emitWarning(warning, type) {
    if (typeof console !== 'undefined') console.warn(`(node) ${type && typeof type === 'string' ? type + ': ' : ''}${warning && warning.message ? warning.message : warning}`);
  },
  getuid: () => 1000,
  getgid: () => 1000,
  geteuid: () => 1000,
  getegid: () => 1000,
  exit: notAvailable('exit'),
  abort: notAvailable('abort'),
  chdir: notAvailable('chdir'),
  kill: notAvailable('kill'),
  dlopen: notAvailable('dlopen'),
  binding: notAvailable('binding'),
  on(ev, fn) { if (!listeners.has(ev)) listeners.set(ev, []); listeners.get(ev).push(fn); return process; },
  once(ev, fn) { return process.on(ev, fn); },
  off(ev, fn) { const l = listeners.get(ev); if (l) listeners.set(ev, l.filter((x) => x !== fn)); return process; },
  emit(ev, ...args) { const l = listeners.get(ev) || []; for (const f of l) f(...args); return l.length > 0; },
  listeners: (ev) => (listeners.get(ev) || []).slice(),
  listenerCount: (ev) => (listeners.get(ev) || []).length,
  setMaxListeners() { return process; },
  getMaxListeners: () => 10,
  setUncaughtExceptionCaptureCallback() {},
  hasUncaughtExceptionCaptureCallback: () => false,
};
process.addListener = process.on;
process.removeListener = process.off;
process.prependListener = process.on;
process.removeAllListeners = (ev) => { if (ev) listeners.delete(ev); else listeners.clear(); return process; };
module.exports = process;
