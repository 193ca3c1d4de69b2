// The `diagnostics_channel` built-in: working channels (subscribers get published messages).
'use strict';
const channels = new Map();
class Channel {
  constructor(name) { this.name = name; this._subs = []; }
  get hasSubscribers() { return this._subs.length > 0; }
  subscribe(fn) { this._subs.push(fn); }
  unsubscribe(fn) { const n = this._subs.length; this._subs = this._subs.filter((f) => f !== fn); return this._subs.length !== n; }
  publish(message) { for (const f of this._subs.slice()) { try { f(message, this.name); } catch (e) { queueMicrotask(() => { throw e; }); } } }
  bindStore() {}
  unbindStore() {}
  runStores(_data, fn, thisArg, ...args) { return fn.apply(thisArg, args); }
}
function channel(name) {
  if (!channels.has(name)) channels.set(name, new Channel(name));
  return channels.get(name);
}
function tracingChannel(name) {
  const names = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];
  const tc = {};
  for (const n of names) tc[n] = channel(`tracing:${name}:${n}`);
  tc.hasSubscribers = false;
  tc.subscribe = (h) => { for (const n of names) if (h[n]) tc[n].subscribe(h[n]); };
  tc.unsubscribe = (h) => { for (const n of names) if (h[n]) tc[n].unsubscribe(h[n]); };
  tc.traceSync = (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args);
  tc.tracePromise = (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args);
  tc.traceCallback = (fn, _pos, _ctx, thisArg, ...args) => fn.apply(thisArg, args);
  return tc;
}
module.exports = {
  channel,
  tracingChannel,
  hasSubscribers: (name) => channels.has(name) && channels.get(name).hasSubscribers,
  subscribe: (name, fn) => channel(name).subscribe(fn),
  unsubscribe: (name, fn) => channel(name).unsubscribe(fn),
  Channel,
};
