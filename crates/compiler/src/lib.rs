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
mod scan;
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
///
/// ```
/// use openfn_compiler::{AdaptorImports, Options, compile};
///
/// let mut options = Options::default();
/// options.imports.adaptors.push(AdaptorImports {
///     name: "@openfn/language-common".into(),
///     exports: Some(vec!["get".into()]),
///     export_all: true,
/// });
/// let out = compile("get($.data.url);", &options).unwrap();
/// assert_eq!(
///     out.code,
///     "import { get } from \"@openfn/language-common\";\n\
///      export * from \"@openfn/language-common\";\n\
///      export default [get(state => state.data.url)];"
/// );
/// assert_eq!(out.map.sources, ["src.js"]);
///
/// let err = compile("fn(s => $.data);", &Options::default()).unwrap_err();
/// assert_eq!(
///     err.for_step("step-1"),
///     "step-1: Lazy State Error: parameter \"s\" should be called \"state\" (1:3)"
/// );
/// ```
pub fn compile(source: &str, options: &Options) -> Result<Compiled, CompileError> {
    let src = transform::effective_source(source);
    let lines = text::LineIndex::new(src);
    // Iterative pre-scan: rejects nesting that would exhaust the stack.
    let scan = scan::check_depth(src, &lines)?;
    if scan.shallow() {
        // Shallow sources (almost every job) compile on the caller's thread.
        return guarded(|| transform::compile_inner(source, options, &lines, &scan));
    }
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("openfn-compile".into())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, || {
                guarded(|| transform::compile_inner(source, options, &lines, &scan))
            });
        match handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err(CompileError::Internal("compile thread failed".into()))),
            Err(e) => Err(CompileError::Internal(format!(
                "cannot start the compile thread: {e}"
            ))),
        }
    })
}

/// Runs `f`, turning a panic (a compiler bug) into [`CompileError::Internal`].
fn guarded(f: impl FnOnce() -> Result<Compiled, CompileError>) -> Result<Compiled, CompileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(CompileError::Internal(msg))
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
