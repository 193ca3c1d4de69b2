//! Compiles OpenFn job DSL into an ES module whose default export is the array of operations,
//! exactly as the kit compiler does (lazy state, promises, ensure-exports, top-level operations,
//! add-imports), with source maps that point back at the user's code.
//!
//! How: oxc parses the source (for spans and structure only); one walk gathers what every
//! transform needs; the transforms become a list of edits on the original text; a
//! span-splicing printer copies untouched code verbatim and prints only created nodes, with
//! recast's layout rules. The source map is built from the same splice list.
//!
//! Not here: running code or installing adaptors; adaptor exports are handed in by the caller
//! (see [`adaptor_exports`] for reading them from an installed adaptor).

mod analyze;
mod error;
mod exports;
mod parse;
mod print;
mod sourcemap;
mod text;
mod transform;

pub use error::CompileError;
pub use exports::{
    adaptor_exports, adaptor_exports_from_dts, get_exports, is_path, is_relative_specifier,
};
pub use sourcemap::{Operation, SourceMap};

use serde::{Deserialize, Serialize};

/// Stack for the compile thread: the parser and walkers recurse once per nesting level, and
/// the pre-scan caps nesting well below what this holds.
const STACK_SIZE: usize = 256 * 1024 * 1024;

/// Compile options (the kit's `{ name, 'lazy-state', promises, … 'add-imports' }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Options {
    /// Name of the job; the source map says `sources: ['<name>.js']`, `file: '<name>.map.js'`.
    pub name: String,
    /// `$.x` → `state => state.x`.
    pub lazy_state: bool,
    /// `op().then(…)` → `_defer(op(), p => p.then(…))`.
    pub promises: bool,
    /// Append `export default [];` when there is no default export.
    pub ensure_exports: bool,
    /// Move top-level calls into the default export array.
    pub top_level_operations: bool,
    /// Import dangling identifiers from adaptors.
    pub add_imports: bool,
    /// Options of add-imports (does nothing without adaptors).
    pub imports: AddImports,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "src".to_string(),
            lazy_state: true,
            promises: true,
            ensure_exports: true,
            top_level_operations: true,
            add_imports: true,
            imports: AddImports::default(),
        }
    }
}

/// The kit's add-imports options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddImports {
    /// Names never imported.
    pub ignore: Vec<String>,
    /// Adaptors to import from, in order (the last one ends up first in the output).
    pub adaptors: Vec<AdaptorImports>,
}

/// One adaptor for add-imports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AdaptorImports {
    /// Module specifier, e.g. `@openfn/language-common`.
    pub name: String,
    /// Known exports; `None` or empty selects the "dumb" mode (import every dangling name).
    pub exports: Option<Vec<String>>,
    /// Also add `export * from "<name>"`.
    pub export_all: bool,
}

impl AdaptorImports {
    /// An adaptor with unknown exports.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            exports: None,
            export_all: false,
        }
    }
}

/// A compiled job: the module text and its source map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// ES module text.
    pub code: String,
    /// Source map, with the kit's extra `operations` index.
    pub map: SourceMap,
}

/// Compiles job source into an ES module (the kit's `compile(source, options)`).
pub fn compile(source: &str, options: &Options) -> Result<Compiled, CompileError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("openfn-compile".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, || transform::compile_inner(source, options));
        match handle {
            Ok(h) => h.join().unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                Err(CompileError::Internal(msg))
            }),
            // No thread available: compile here (the pre-scan still bounds recursion).
            Err(_) => transform::compile_inner(source, options),
        }
    })
}

/// [`compile`] for raw bytes: invalid UTF-8 is a [`CompileError::InvalidUtf8`].
pub fn compile_bytes(source: &[u8], options: &Options) -> Result<Compiled, CompileError> {
    match std::str::from_utf8(source) {
        Ok(s) => compile(s, options),
        Err(e) => Err(CompileError::InvalidUtf8 {
            offset: e.valid_up_to(),
        }),
    }
}
