//! Node module resolution on top of `oxc_resolver`: package `exports` with the ESM
//! (`node`/`import`/`default`) or CommonJS (`node`/`require`/`default`) conditions, `main`,
//! extension and `index.js` probing and nested `node_modules`; plus the module format of a file
//! (`.mjs`/`.cjs`/`.json`, else the nearest `package.json` `type`). `NodeResolver` is the
//! rquickjs `Resolver` for ESM imports.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use oxc_resolver::{ResolveOptions, Resolver};

use crate::policy::normalize;
use crate::source::{ModuleKind, ModuleSource};
use crate::util::lock;

/// Node resolution on the file system: the native [`ModuleSource`].
pub struct Resolvers {
    esm: Resolver,
    cjs: Resolver,
    package_type: Mutex<HashMap<PathBuf, bool>>,
}

fn options(conditions: &[&str]) -> ResolveOptions {
    ResolveOptions {
        condition_names: conditions.iter().map(|s| (*s).to_owned()).collect(),
        extensions: vec![".js".into(), ".json".into(), ".cjs".into(), ".mjs".into()],
        main_fields: vec!["main".into()],
        main_files: vec!["index".into()],
        ..ResolveOptions::default()
    }
}

impl Resolvers {
    /// Resolvers with the ESM and CommonJS conditions of Node.
    #[allow(
        clippy::new_without_default,
        reason = "builds two resolvers; not a plain value"
    )]
    pub fn new() -> Self {
        let esm = Resolver::new(options(&["node", "import", "default"]));
        let cjs = esm.clone_with_options(options(&["node", "require", "default"]));
        Self {
            esm,
            cjs,
            package_type: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves an ESM import of `spec` from a module in `dir`.
    pub(crate) fn resolve_import(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        self.esm
            .resolve(dir, spec)
            .map(|r| normalize(&r.full_path()))
            .map_err(|e| e.to_string())
    }

    /// Resolves a `require(spec)` from a module in `dir`.
    pub(crate) fn resolve_require(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        self.cjs
            .resolve(dir, spec)
            .map(|r| normalize(&r.full_path()))
            .map_err(|e| e.to_string())
    }

    /// The format of the module file at `path`.
    pub(crate) fn kind(&self, path: &Path) -> ModuleKind {
        match path.extension().and_then(|e| e.to_str()) {
            Some("mjs") => ModuleKind::Esm,
            Some("cjs") => ModuleKind::CommonJs,
            Some("json") => ModuleKind::Json,
            _ => {
                if self.package_is_module(path) {
                    ModuleKind::Esm
                } else {
                    ModuleKind::CommonJs
                }
            }
        }
    }

    fn package_is_module(&self, path: &Path) -> bool {
        let mut dir = path.parent();
        let mut visited = Vec::new();
        let mut result = false;
        while let Some(d) = dir {
            if let Some(known) = lock(&self.package_type).get(d) {
                result = *known;
                break;
            }
            visited.push(d.to_path_buf());
            let pj = d.join("package.json");
            if let Ok(text) = std::fs::read_to_string(&pj) {
                result = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| {
                        v.get("type")
                            .and_then(|t| t.as_str())
                            .map(|t| t == "module")
                    })
                    .unwrap_or(false);
                break;
            }
            if d.file_name().is_some_and(|n| n == "node_modules") {
                break;
            }
            dir = d.parent();
        }
        let mut cache = lock(&self.package_type);
        for d in visited {
            cache.insert(d, result);
        }
        result
    }
}

impl ModuleSource for Resolvers {
    fn resolve_import(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        Resolvers::resolve_import(self, spec, dir)
    }
    fn resolve_require(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        Resolvers::resolve_require(self, spec, dir)
    }
    fn kind(&self, path: &Path) -> ModuleKind {
        Resolvers::kind(self, path)
    }
    fn read_text(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn canonicalize(&self, dir: &Path) -> std::io::Result<PathBuf> {
        dir.canonicalize()
    }
}
