//! Node module resolution on top of `oxc_resolver`: package `exports` with the ESM
//! (`node`/`import`/`default`) or CommonJS (`node`/`require`/`default`) conditions, `main`,
//! extension and `index.js` probing and nested `node_modules`; plus the module format of a file
//! (`.mjs`/`.cjs`/`.json`, else the nearest `package.json` `type`). `NodeResolver` is the
//! rquickjs `Resolver` for ESM imports. Resolutions and formats of files in an installed
//! adaptor tree come from (and go to) the tree cache (`tree.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oxc_resolver::{ResolveOptions, Resolver};

use crate::policy::normalize;
use crate::source::{ModuleKind, ModuleSource};
use crate::tree::{Conditions, TreeCache};
use crate::util::lock;

/// Node resolution on the file system: the native [`ModuleSource`].
pub struct Resolvers {
    esm: Resolver,
    cjs: Resolver,
    package_type: Mutex<HashMap<PathBuf, bool>>,
    trees: Option<Arc<TreeCache>>,
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
        Self::with_trees(None)
    }

    /// Resolvers, with the tree caches of the host's bytecode cache when there is one.
    pub(crate) fn with_trees(trees: Option<Arc<TreeCache>>) -> Self {
        let esm = Resolver::new(options(&["node", "import", "default"]));
        let cjs = esm.clone_with_options(options(&["node", "require", "default"]));
        Self {
            esm,
            cjs,
            package_type: Mutex::new(HashMap::new()),
            trees,
        }
    }

    /// Resolves an ESM import of `spec` from a module in `dir`.
    pub(crate) fn resolve_import(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        self.resolve_with(Conditions::Import, &self.esm, spec, dir)
    }

    /// Resolves a `require(spec)` from a module in `dir`.
    pub(crate) fn resolve_require(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        self.resolve_with(Conditions::Require, &self.cjs, spec, dir)
    }

    fn resolve_with(
        &self,
        cond: Conditions,
        resolver: &Resolver,
        spec: &str,
        dir: &Path,
    ) -> Result<PathBuf, String> {
        if let Some(path) = self
            .trees
            .as_ref()
            .and_then(|t| t.resolved(cond, dir, spec))
        {
            return Ok(path);
        }
        let path = resolver
            .resolve(dir, spec)
            .map(|r| normalize(&r.full_path()))
            .map_err(|e| e.to_string())?;
        if let Some(trees) = &self.trees {
            trees.record_resolved(cond, dir, spec, &path);
        }
        Ok(path)
    }

    /// The format of the module file at `path`.
    pub(crate) fn kind(&self, path: &Path) -> ModuleKind {
        let Some(trees) = &self.trees else {
            return self.kind_uncached(path);
        };
        let cached = trees.kind(path).and_then(|k| match k {
            0 => Some(ModuleKind::Esm),
            1 => Some(ModuleKind::CommonJs),
            2 => Some(ModuleKind::Json),
            _ => None,
        });
        if let Some(kind) = cached {
            return kind;
        }
        let kind = self.kind_uncached(path);
        trees.record_kind(
            path,
            match kind {
                ModuleKind::Esm => 0,
                ModuleKind::CommonJs => 1,
                ModuleKind::Json => 2,
            },
        );
        kind
    }

    fn kind_uncached(&self, path: &Path) -> ModuleKind {
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
