//! The request codes of the wasm tier's `openfn.call` host import: what a plan-mode guest
//! (`openfn-sandbox-wasm-guest`) asks its host (`openfn-sandbox-wasm`) for. One list, so both
//! sides of the import agree.

/// Resolve an ESM import (`{spec, dir}` → path).
pub const RESOLVE_IMPORT: u32 = 1;
/// Resolve a `require` (`{spec, dir}` → path).
pub const RESOLVE_REQUIRE: u32 = 2;
/// The module format of a file (`{path}` → `esm`/`cjs`/`json`).
pub const KIND: u32 = 3;
/// Read a module file (`{path}` → text).
pub const READ: u32 = 4;
/// The canonical form of a directory (`{path}` → path).
pub const CANONICALIZE: u32 = 5;
/// Perform an HTTP request under the host's policy.
pub const HTTP: u32 = 6;
/// A credential by id.
pub const CREDENTIAL: u32 = 7;
/// A dataclip by id.
pub const DATACLIP: u32 = 8;
