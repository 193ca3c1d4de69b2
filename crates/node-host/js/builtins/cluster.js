// Throwing stub for the `cluster` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('cluster', ['fork', 'setupPrimary', 'setupMaster'], { isPrimary: true, isMaster: true, isWorker: false, workers: {} });
