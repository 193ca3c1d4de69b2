// Throwing stub for the `https` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('https', ['request', 'get', 'createServer', 'Agent', 'Server'], { globalAgent: {} });
