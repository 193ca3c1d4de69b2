// Throwing stub for the `tls` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('tls', ['connect', 'createServer', 'createSecureContext', 'TLSSocket', 'Server', 'checkServerIdentity', 'getCiphers'], { rootCertificates: [], DEFAULT_MIN_VERSION: 'TLSv1.2', DEFAULT_MAX_VERSION: 'TLSv1.3', DEFAULT_ECDH_CURVE: 'auto' });
