// The `worker_threads` built-in: this is the main thread; workers are not available.
'use strict';
class MessagePort extends require('events') { postMessage() {} start() {} close() {} ref() {} unref() {} }
class MessageChannel { constructor() { this.port1 = new MessagePort(); this.port2 = new MessagePort(); } }
class Worker { constructor() { const e = new Error('worker_threads.Worker is not available in the OpenFn adaptor sandbox'); e.code = 'ERR_NOT_AVAILABLE'; throw e; } }
module.exports = {
  isMainThread: true,
  parentPort: null,
  workerData: null,
  threadId: 0,
  resourceLimits: {},
  SHARE_ENV: Symbol('SHARE_ENV'),
  Worker,
  MessageChannel,
  MessagePort,
  BroadcastChannel: class BroadcastChannel extends MessagePort {},
  markAsUntransferable() {},
  moveMessagePortToContext: (p) => p,
  receiveMessageOnPort: () => undefined,
  getEnvironmentData: () => undefined,
  setEnvironmentData() {},
};
