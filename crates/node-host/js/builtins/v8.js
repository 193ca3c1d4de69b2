// Throwing stub for the `v8` built-in (not available in the adaptor sandbox).
'use strict';
module.exports = require('internal:builtins/internal_stub.js')('v8', ['serialize', 'deserialize', 'getHeapSnapshot', 'writeHeapSnapshot', 'setFlagsFromString'], { getHeapStatistics: () => ({ total_heap_size: 0, used_heap_size: 0, heap_size_limit: 0 }), cachedDataVersionTag: () => 0 });
