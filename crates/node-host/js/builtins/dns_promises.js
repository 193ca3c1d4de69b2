// Throwing stub for the `dns/promises` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('dns/promises', ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveTxt', 'resolveSrv', 'resolveMx', 'reverse', 'lookupService', 'Resolver', 'setServers', 'getServers'], {});
