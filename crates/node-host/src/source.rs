//! The module-source seam: where module files are resolved and read. The native build uses
//! Node resolution on the file system ([`crate::resolve`], `oxc_resolver`); an embedder without
//! a file system (the wasm tier's guest) supplies its own [`ModuleSource`], e.g. one that asks
//! its host, which resolves under the read-only adaptor repo.

use std::path::{Path, PathBuf};

/// The format of a module file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// An ES module.
    Esm,
    /// A CommonJS module.
    CommonJs,
    /// A JSON file.
    Json,
}

impl ModuleKind {
    /// `esm`, `cjs` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::Esm => "esm",
            ModuleKind::CommonJs => "cjs",
            ModuleKind::Json => "json",
        }
    }

    /// The inverse of [`ModuleKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "esm" => Some(ModuleKind::Esm),
            "cjs" => Some(ModuleKind::CommonJs),
            "json" => Some(ModuleKind::Json),
            _ => None,
        }
    }
}

/// Resolves and reads module files for the host. Paths are absolute; the host still checks
/// every path against its [`crate::HostPolicy`] before it uses it.
pub trait ModuleSource: Send + Sync {
    /// Resolves an ESM import of `spec` from a module in `dir`.
    fn resolve_import(&self, spec: &str, dir: &Path) -> Result<PathBuf, String>;
    /// Resolves a `require(spec)` from a module in `dir`.
    fn resolve_require(&self, spec: &str, dir: &Path) -> Result<PathBuf, String>;
    /// The format of the module file at `path`.
    fn kind(&self, path: &Path) -> ModuleKind;
    /// The text of the file at `path`.
    fn read_text(&self, path: &Path) -> std::io::Result<String>;
    /// The canonical form of the directory `dir` (symlinks resolved).
    fn canonicalize(&self, dir: &Path) -> std::io::Result<PathBuf>;
}

/// A source with no modules at all: every resolution and read fails (the default of a build
/// without the `native` feature when the embedder supplies none).
#[derive(Debug, Default)]
pub struct NoModules;

fn none(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no module source: {}", path.display()),
    )
}

impl ModuleSource for NoModules {
    fn resolve_import(&self, spec: &str, _dir: &Path) -> Result<PathBuf, String> {
        Err(format!("Cannot find module '{spec}'"))
    }
    fn resolve_require(&self, spec: &str, _dir: &Path) -> Result<PathBuf, String> {
        Err(format!("Cannot find module '{spec}'"))
    }
    fn kind(&self, _path: &Path) -> ModuleKind {
        ModuleKind::CommonJs
    }
    fn read_text(&self, path: &Path) -> std::io::Result<String> {
        Err(none(path))
    }
    fn canonicalize(&self, dir: &Path) -> std::io::Result<PathBuf> {
        Err(none(dir))
    }
}
