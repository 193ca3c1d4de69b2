// Throwing stub for the `http2` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('http2', ['connect', 'createServer', 'createSecureServer'], { constants: {} });
