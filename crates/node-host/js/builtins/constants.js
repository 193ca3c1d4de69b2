// The legacy `constants` built-in.
'use strict';
module.exports = Object.assign({}, require('os').constants.signals, require('fs').constants);
