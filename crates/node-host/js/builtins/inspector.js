// Throwing stub for the `inspector` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('inspector', ['open', 'close', 'url', 'waitForDebugger', 'Session'], { console: globalThis.console });
