// The `module` built-in: createRequire (inside the allowed module roots) and builtinModules.
'use strict';
const toPath = (f) => { const s = String(f && f.href ? f.href : f); return s.startsWith('file://') ? decodeURIComponent(s.slice(7)) : s; };
function Module() {}
Module.createRequire = (filename) => binding.createRequire(toPath(filename));
Module.builtinModules = binding.builtinModules;
Module.isBuiltin = (name) => binding.builtinModules.includes(String(name).replace(/^node:/, ''));
Module.register = () => {};
Module.syncBuiltinESMExports = () => {};
Module.findSourceMap = () => undefined;
Module.Module = Module;
module.exports = Module;
