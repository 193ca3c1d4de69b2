// Throwing stub for the `sqlite` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('sqlite', ['DatabaseSync', 'StatementSync'], {});
