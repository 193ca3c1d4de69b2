// Throwing stub for the `fs/promises` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('fs/promises', ['readFile', 'writeFile', 'appendFile', 'stat', 'lstat', 'readdir', 'mkdir', 'mkdtemp', 'rm', 'rmdir', 'unlink', 'rename', 'copyFile', 'open', 'access', 'realpath', 'chmod', 'symlink', 'readlink', 'truncate', 'utimes', 'opendir', 'cp', 'watch', 'glob'], { constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 } });
