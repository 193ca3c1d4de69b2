// The guest's job realm: console, error description and the operation loop. Evaluated before
// the job; the three __openfn_* globals are taken by the guest and removed from the realm.
(() => {
  const emit = globalThis.__openfn_emit;
  const send = (message) => {
    let text;
    try {
      text = JSON.stringify(message);
    } catch (e) {
      text = JSON.stringify({ ...message, message: message.message.map((m) => String(m)) });
    }
    emit(text);
  };
  const show = (a) => (a instanceof Error ? `${a.name}: ${a.message}` : a === undefined ? 'undefined' : a);
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
    console[level] = (...args) => send({ type: 'log', level, message: args.map(show) });
  }
  Object.defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true });

  const describe = (e) => {
    if (e instanceof Error) {
      return {
        ctor: (e.constructor && e.constructor.name) || 'Error',
        name: e.name ?? null,
        message: String(e.message ?? ''),
        stack: typeof e.stack === 'string' ? e.stack : null,
      };
    }
    let message;
    if (typeof e === 'string') message = e;
    else {
      try {
        message = JSON.stringify(e) ?? String(e);
      } catch {
        message = String(e);
      }
    }
    return { ctor: null, name: null, message, stack: null };
  };
  const fail = (phase, e, extra) => send({ type: 'error', phase, ...describe(e), ...extra });

  globalThis.__openfn_fail = (phase, e) => fail(phase, e, {});
  globalThis.__openfn_run = async (ops, stateJson) => {
    if (!Array.isArray(ops)) {
      send({ type: 'error', phase: 'load', ctor: null, name: 'InvalidExportsError',
        message: 'Job must export an array of operations', stack: null });
      return;
    }
    let state = JSON.parse(stateJson);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (typeof op !== 'function') {
        send({ type: 'error', phase: 'load', ctor: null, name: 'InvalidOperationError',
          message: `Operation ${i} is not a function`, stack: null, operation: i });
        return;
      }
      try {
        state = await op(state);
      } catch (e) {
        fail('run', e, { operation: i });
        return;
      }
    }
    send({ type: 'result', state: state === undefined ? null : state });
  };
})();
