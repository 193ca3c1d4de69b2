// Throwing stub for the `dns` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('dns', ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveTxt', 'resolveSrv', 'resolveMx', 'reverse', 'lookupService', 'Resolver', 'setServers', 'getServers', 'setDefaultResultOrder'], { get promises() { return require('dns/promises'); } });
