// Throwing stub for the `dgram` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('dgram', ['createSocket', 'Socket'], {});
