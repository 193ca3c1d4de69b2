// The `timers` built-in (and the timer globals), backed by tokio timers on the host.
'use strict';
const { host } = binding;

function checkCallback(cb) {
  if (typeof cb !== 'function') {
    const received = cb === null ? 'null' : typeof cb === 'string' ? `type string ('${cb}')` : typeof cb === 'object' ? 'an instance of ' + (cb.constructor && cb.constructor.name || 'Object') : `type ${typeof cb} (${String(cb)})`;
    const e = new TypeError(`The "callback" argument must be of type function. Received ${received}`);
    e.code = 'ERR_INVALID_ARG_TYPE';
    throw e;
  }
}

class Timeout {
  constructor(cb, ms, args, repeat) {
    this._cb = cb;
    this._ms = Number(ms) > 0 ? Number(ms) : 1;
    this._args = args;
    this._repeat = repeat;
    this._ref = true;
    this._start();
  }
  _start() {
    this._id = host.setTimer(this._ms, this._repeat, () => this._cb(...this._args));
  }
  // An unref'd timer must not keep a run alive (in node it does not keep the event loop
  // alive): it is cancelled, and `ref()` starts it again.
  ref() { if (!this._ref && !this._closed) { this._ref = true; this._start(); } return this; }
  unref() { if (this._ref) { this._ref = false; host.clearTimer(this._id); } return this; }
  hasRef() { return this._ref; }
  refresh() { if (this._ref) { host.clearTimer(this._id); this._start(); } return this; }
  close() { this._closed = true; host.clearTimer(this._id); return this; }
  [Symbol.toPrimitive]() { return this._id; }
}
class Immediate extends Timeout {}

function clear(t) {
  if (t === null || t === undefined) return;
  if (t instanceof Timeout) t.close();
  else if (typeof t === 'number' || typeof t === 'string') host.clearTimer(Number(t) >>> 0);
}

module.exports = {
  setTimeout(cb, ms, ...args) { checkCallback(cb); return new Timeout(cb, ms, args, false); },
  setInterval(cb, ms, ...args) { checkCallback(cb); return new Timeout(cb, ms, args, true); },
  setImmediate(cb, ...args) { checkCallback(cb); return new Immediate(cb, 0, args, false); },
  clearTimeout: clear,
  clearInterval: clear,
  clearImmediate: clear,
  Timeout,
  Immediate,
};
module.exports.promises = require('timers/promises');
