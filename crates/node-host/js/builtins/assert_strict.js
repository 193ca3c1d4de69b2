// The `assert/strict` built-in.
module.exports = require('assert').strict;
