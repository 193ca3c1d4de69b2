// Throwing stub for the `net` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('net', ['createServer', 'createConnection', 'connect', 'Socket', 'Server', 'BlockList', 'SocketAddress'], { isIP: (s) => (/^(\d{1,3}\.){3}\d{1,3}$/.test(s) ? 4 : /:/.test(s) ? 6 : 0), isIPv4: (s) => /^(\d{1,3}\.){3}\d{1,3}$/.test(s), isIPv6: (s) => /:/.test(s), getDefaultAutoSelectFamily: () => true, setDefaultAutoSelectFamily() {} });
