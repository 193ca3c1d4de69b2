// The `console` built-in and global: every call is formatted like Node's and handed to the
// host's console sink (the `ADA` logger).
'use strict';
const { host } = binding;
const { format, inspect } = require('internal:builtins/internal_inspect.js');
function Console() {
  const counts = new Map();
  const timers = new Map();
  let indent = '';
  const out = (level) => (...args) => host.log(level, indent ? format(...args).replace(/^/gm, indent) : format(...args));
  const c = {
    log: out('info'),
    info: out('info'),
    debug: out('debug'),
    warn: out('warn'),
    error: out('error'),
    trace: (...args) => host.log('debug', 'Trace: ' + format(...args) + '\n' + (new Error().stack || '').split('\n').slice(1).join('\n')),
    dir: (obj, opts) => host.log('info', inspect(obj, opts)),
    dirxml: (...args) => c.log(...args),
    table: (data) => host.log('info', inspect(data)),
    assert: (cond, ...args) => { if (!cond) c.error('Assertion failed' + (args.length ? ': ' + format(...args) : '')); },
    count: (label = 'default') => { const n = (counts.get(label) || 0) + 1; counts.set(label, n); c.info(`${label}: ${n}`); },
    countReset: (label = 'default') => counts.delete(label),
    time: (label = 'default') => timers.set(label, Date.now()),
    timeEnd: (label = 'default') => { const t = timers.get(label); if (t !== undefined) { timers.delete(label); c.info(`${label}: ${Date.now() - t}ms`); } },
    timeLog: (label = 'default', ...args) => { const t = timers.get(label); if (t !== undefined) c.info(`${label}: ${Date.now() - t}ms`, ...args); },
    group: (...args) => { if (args.length) c.log(...args); indent += '  '; },
    groupCollapsed: (...args) => c.group(...args),
    groupEnd: () => { indent = indent.slice(2); },
    clear: () => {},
    profile: () => {},
    profileEnd: () => {},
    timeStamp: () => {},
  };
  return c;
}
const console = Console();
console.Console = Console;
module.exports = console;
