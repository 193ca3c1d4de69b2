// The `timers/promises` built-in.
'use strict';
const abortError = (signal) => {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  e.cause = signal && signal.reason;
  return e;
};
function setTimeout(ms, value, options = {}) {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(abortError(signal));
    const t = globalThis.setTimeout(() => resolve(value), ms);
    if (signal) signal.addEventListener('abort', () => { globalThis.clearTimeout(t); reject(abortError(signal)); }, { once: true });
  });
}
function setImmediate(value, options) { return setTimeout(0, value, options); }
async function* setInterval(ms, value) {
  while (true) { await setTimeout(ms); yield value; }
}
module.exports = { setTimeout, setImmediate, setInterval, scheduler: { wait: (ms, o) => setTimeout(ms, undefined, o), yield: () => setImmediate() } };
