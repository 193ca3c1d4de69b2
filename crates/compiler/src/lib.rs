//! Compiles OpenFn job DSL into an ES module whose default export is the array of operations,
//! exactly as the kit compiler does (lazy state, promises, ensure-exports, top-level operations,
//! add-imports), with source maps that point back at the user's code.
//!
//! Not here: running code or installing adaptors; adaptor exports are handed in by the caller.
