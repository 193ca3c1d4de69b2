// The `events` built-in: the vendored `events` package (3.3.0, MIT) plus a few newer statics.
'use strict';
const EventEmitter = require('internal:vendor/events/events.js');
EventEmitter.errorMonitor = EventEmitter.errorMonitor || Symbol('events.errorMonitor');
EventEmitter.captureRejectionSymbol = Symbol.for('nodejs.rejection');
EventEmitter.captureRejections = false;
EventEmitter.setMaxListeners = function () {};
EventEmitter.getEventListeners = (emitter, name) => (emitter.listeners ? emitter.listeners(name) : []);
EventEmitter.getMaxListeners = (emitter) => (emitter.getMaxListeners ? emitter.getMaxListeners() : 10);
EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);
EventEmitter.addAbortListener = (signal, listener) => {
  signal.addEventListener('abort', listener, { once: true });
  return { [Symbol.dispose || Symbol.for('dispose')]() { signal.removeEventListener('abort', listener); } };
};
EventEmitter.on = function on(emitter, event) {
  const queue = [];
  const waiting = [];
  let error = null;
  const onEvent = (...args) => { const w = waiting.shift(); if (w) w.resolve({ value: args, done: false }); else queue.push(args); };
  const onError = (e) => { const w = waiting.shift(); if (w) w.reject(e); else error = e; };
  emitter.on(event, onEvent);
  if (event !== 'error') emitter.on('error', onError);
  return {
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (error) { const e = error; error = null; return Promise.reject(e); }
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() { emitter.removeListener(event, onEvent); emitter.removeListener('error', onError); return Promise.resolve({ value: undefined, done: true }); },
    [Symbol.asyncIterator]() { return this; },
  };
};
class EventEmitterAsyncResource extends EventEmitter {}
EventEmitter.EventEmitterAsyncResource = EventEmitterAsyncResource;
module.exports = EventEmitter;
