// The `string_decoder` built-in: the vendored `string_decoder` package (1.3.0, MIT).
'use strict';
module.exports = require('internal:vendor/string_decoder/string_decoder.js');
