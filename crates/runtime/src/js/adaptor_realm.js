// Adaptor realm prelude: evaluated once per run in the adaptor context before the adaptor host
// sets it up. Gives adaptor code a console (ADA lines) and V8-style stack traces, and latches
// out-of-memory errors so that no code can catch one and carry on.
(function (host) {
  'use strict';
  const toTag = (v) => Object.prototype.toString.call(v);
  function header(err) {
    let name = 'Error';
    let message = '';
    try {
      name = err && err.name !== undefined ? String(err.name) : 'Error';
      message = err && err.message !== undefined ? String(err.message) : '';
    } catch (e) {}
    return message ? name + ': ' + message : name;
  }
  function prepareStackTrace(err, callsites) {
    if (err && err.name === 'InternalError' && err.message === 'out of memory') host.oom();
    let out = header(err);
    if (!callsites) return out;
    for (const cs of callsites) {
      if (cs.isNative()) continue;
      const file = cs.getFileName();
      if (file === undefined || file === null) continue;
      const line = cs.getLineNumber();
      const col = cs.getColumnNumber();
      const where = file + (line > 0 ? ':' + line + ':' + col : '');
      const fname = cs.getFunctionName();
      out += '\n    at ' + (fname ? fname + ' (' + where + ')' : where);
    }
    return out;
  }
  Error.prepareStackTrace = prepareStackTrace;
  const d = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
  if (d && d.get) Object.defineProperty(Error, 'prepareStackTrace', { get: d.get, set: function () {}, configurable: false });

  function safe(args) {
    try {
      return JSON.stringify(args.map((a) => (toTag(a) === '[object Error]' ? { name: a.name, message: a.message } : a)));
    } catch (e) {
      return JSON.stringify(args.map((a) => String(a)));
    }
  }
  const emit = (level) => (...args) => {
    if (args.length === 0 || (args.length === 1 && args[0] === null)) return;
    host.log(level, safe(args));
  };
  globalThis.console = {
    log: emit('info'), info: emit('info'), debug: emit('debug'), trace: emit('debug'),
    warn: emit('warn'), error: emit('error'), success: emit('success'), always: emit('always'),
  };
})
