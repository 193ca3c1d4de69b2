// The `async_hooks` built-in: a minimal AsyncLocalStorage (the store is kept while a
// synchronous `run` executes and across awaits inside it on a best-effort basis),
// AsyncResource and no-op hooks.
'use strict';
class AsyncLocalStorage {
  constructor() { this._store = undefined; this._enabled = true; }
  getStore() { return this._enabled ? this._store : undefined; }
  run(store, fn, ...args) {
    const prev = this._store;
    this._store = store;
    let result;
    try { result = fn(...args); } finally {
      if (result && typeof result.then === 'function') result.then(() => { this._store = prev; }, () => { this._store = prev; });
      else this._store = prev;
    }
    return result;
  }
  exit(fn, ...args) { const prev = this._store; this._store = undefined; try { return fn(...args); } finally { this._store = prev; } }
  enterWith(store) { this._store = store; }
  disable() { this._enabled = false; this._store = undefined; }
  static bind(fn) { return fn; }
  static snapshot() { return (fn, ...args) => fn(...args); }
}
class AsyncResource {
  constructor(type) { this.type = type; }
  runInAsyncScope(fn, thisArg, ...args) { return fn.apply(thisArg, args); }
  emitDestroy() { return this; }
  asyncId() { return 1; }
  triggerAsyncId() { return 0; }
  bind(fn) { return fn.bind(this); }
  static bind(fn) { return fn; }
}
module.exports = {
  AsyncLocalStorage,
  AsyncResource,
  createHook: () => ({ enable() { return this; }, disable() { return this; } }),
  executionAsyncId: () => 1,
  triggerAsyncId: () => 0,
  executionAsyncResource: () => ({}),
  asyncWrapProviders: {},
};
