// Throwing stub for the `tty` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('tty', ['ReadStream', 'WriteStream'], { isatty: () => false });
