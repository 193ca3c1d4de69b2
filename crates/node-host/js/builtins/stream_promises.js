// The `stream/promises` built-in.
'use strict';
module.exports = require('stream').promises;
