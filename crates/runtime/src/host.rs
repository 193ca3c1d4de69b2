//! The seam between the runtime and whatever gives adaptor code its host: the `AdaptorHost`
//! trait (implemented by the Node-compatible host crate), the default host that loads plain
//! ESM adaptors from disk, and the repo lookup of docs/execution.md §2.10.

use std::path::{Path, PathBuf};

use rquickjs::module::Declared;
use rquickjs::{Ctx, Module};
use serde_json::Value;

/// Provides the adaptor realm: its globals and how its modules resolve and load.
///
/// The runtime creates one adaptor context per run, installs a console (`ADA` lines) and V8-style
/// stack traces, then calls [`AdaptorHost::init_realm`]. Every import made *from* adaptor code
/// (and the import of an adaptor entry point itself) goes through [`AdaptorHost::resolve`] and
/// [`AdaptorHost::load`]. Job code never reaches the host: the job realm sees only the exports
/// of the adaptor entry, re-exposed by the runtime's linker.
pub trait AdaptorHost {
    /// Set up the adaptor realm (Buffer, URL, timers, process… as the host sees fit).
    fn init_realm(&self, ctx: &Ctx<'_>) -> rquickjs::Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Resolve `name` imported from module `base` (`""` for the adaptor entry itself, which is
    /// passed as an absolute path) to a module name.
    fn resolve(&self, ctx: &Ctx<'_>, base: &str, name: &str) -> rquickjs::Result<String>;

    /// Declare (not evaluate) the module called `name` in the adaptor realm.
    fn load<'js>(&self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>>;

    /// Whether the adaptor realm may generate code from strings (`new Function(…)`, `eval`)
    /// for a request whose whole stack has the non-native frames in the files `frames`,
    /// nearest caller first. Asked only while the realm's intrinsics are as they were when the
    /// realm was set up. Everything else in the realm, and all job code, is refused
    /// (SecurityError). Default: [`codegen_allowed`].
    fn codegen_allowed(&self, frames: &[String]) -> bool {
        codegen_allowed(frames)
    }

    /// Called after an adaptor entry and everything it imports has loaded: a host may persist
    /// what it learnt (the node host writes its adaptor tree caches). Default: nothing.
    fn adaptor_loaded(&self) {}

    /// The entry file of the package installed at `root` (default: §2.10 step 3).
    fn entry_point(&self, root: &Path) -> Result<PathBuf, String> {
        package_entry_with(root, &|p| self.read_text(p))
    }

    /// Reads a file the linker needs (an adaptor's or the repo's `package.json`): the file
    /// system natively; an embedder without one (the wasm guest) reads through its host.
    fn read_text(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// How the linker reads a file ([`AdaptorHost::read_text`]).
pub(crate) type ReadText<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// The libraries whose own files may generate code in the adaptor realm: ajv compiles every
/// JSON schema (language-common's `validate`) to a function with `new Function`.
pub const CODEGEN_LIBRARIES: &[&str] = &["ajv"];

/// The default code generation rule, on the files of a request's non-native stack frames
/// (nearest caller first): the nearest caller is a file of one of [`CODEGEN_LIBRARIES`], and
/// below that library's own frames the first caller is language-common itself (its
/// `validate`). So ajv compiles the schemas `validate` hands it, and nothing else: not for job
/// code, not for another library, not for a callback the job passed anywhere. Job modules
/// (`vm:module(0)`) and the runtime's own scripts never match.
pub fn codegen_allowed<S: AsRef<str>>(frames: &[S]) -> bool {
    let mut files = frames.iter().map(AsRef::as_ref);
    if !files.next().is_some_and(library_file) {
        return false;
    }
    files
        .find(|file| !library_file(file))
        .is_some_and(codegen_caller_file)
}

/// The components of an absolute module path, or `None` for anything else.
fn path_parts(file: &str) -> Option<Vec<&str>> {
    if !file.starts_with('/') || file.split('/').any(|part| part == "..") {
        return None;
    }
    Some(file.split('/').collect())
}

/// `file` is inside `node_modules/<library>/` for one of [`CODEGEN_LIBRARIES`].
fn library_file(file: &str) -> bool {
    path_parts(file).is_some_and(|parts| {
        parts.windows(3).any(|w| {
            w[0] == "node_modules" && CODEGEN_LIBRARIES.contains(&w[1]) && !w[2].is_empty()
        })
    })
}

/// `file` is one of language-common's own files: `@openfn/language-common/…` (or a repo alias
/// `@openfn/language-common_<version>/…`), or a monorepo's `packages/common/…`; not a file of
/// one of its dependencies.
fn codegen_caller_file(file: &str) -> bool {
    let Some(parts) = path_parts(file) else {
        return false;
    };
    let package = parts.windows(2).rposition(|w| {
        (w[0] == "@openfn" && (w[1] == "language-common" || w[1].starts_with("language-common_")))
            || (w[0] == "packages" && w[1] == "common")
    });
    match package {
        Some(at) => {
            let inside = &parts[at + 2..];
            !inside.is_empty() && !inside.contains(&"node_modules")
        }
        None => false,
    }
}

/// The entry point of an installed package: `exports` (string) or `exports["."]` (string) or
/// `exports["."].import`, else `main`, else `index.js` (the `module` field is ignored).
pub fn package_entry(root: &Path) -> Result<PathBuf, String> {
    package_entry_with(root, &|p| std::fs::read_to_string(p))
}

/// [`package_entry`], reading through `read`.
pub(crate) fn package_entry_with(root: &Path, read: ReadText<'_>) -> Result<PathBuf, String> {
    let pkg_path = root.join("package.json");
    let text = read(&pkg_path).map_err(|e| format!("{}: {e}", pkg_path.display()))?;
    let pkg: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", pkg_path.display()))?;
    let exports = pkg.get("exports");
    let rel = match exports {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(map)) => match map.get(".") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(dot)) => dot
                .get("import")
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        },
        _ => None,
    }
    .or_else(|| pkg.get("main").and_then(Value::as_str).map(str::to_string))
    .unwrap_or_else(|| "index.js".to_string());
    Ok(root.join(rel.trim_start_matches("./")))
}

/// The alias a module is installed under in a repo: `name_version`, or `name` without version.
pub fn aliased_name(name: &str, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("{name}_{v}"),
        None => name.to_string(),
    }
}

/// Where a module lives in a repo (kit `getModulePath`): with a version the alias must be a
/// repo dependency; without, the highest installed `name_*` (string comparison of versions).
pub fn repo_module_path(repo: &Path, name: &str, version: Option<&str>) -> Option<PathBuf> {
    repo_module_path_with(repo, name, version, &|p| std::fs::read_to_string(p))
}

/// [`repo_module_path`], reading through `read`.
pub(crate) fn repo_module_path_with(
    repo: &Path,
    name: &str,
    version: Option<&str>,
    read: ReadText<'_>,
) -> Option<PathBuf> {
    let text = read(&repo.join("package.json")).ok()?;
    let pkg: Value = serde_json::from_str(&text).ok()?;
    let deps = pkg.get("dependencies")?.as_object()?;
    let alias = match version {
        Some(v) if v != "latest" => {
            let alias = aliased_name(name, Some(v));
            deps.contains_key(&alias).then_some(alias)?
        }
        _ => {
            let prefix = format!("{name}_");
            deps.keys()
                .filter(|k| k.starts_with(&prefix))
                .max()
                .cloned()?
        }
    };
    Some(repo.join("node_modules").join(alias))
}

/// The installed version of the package at `root` (its `package.json` `version`).
pub fn package_version(root: &Path) -> Option<String> {
    package_version_with(root, &|p| std::fs::read_to_string(p))
}

/// [`package_version`], reading through `read`.
pub(crate) fn package_version_with(root: &Path, read: ReadText<'_>) -> Option<String> {
    let text = read(&root.join("package.json")).ok()?;
    let pkg: Value = serde_json::from_str(&text).ok()?;
    pkg.get("version")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The default host: plain ES modules on disk, relative and absolute imports only, no Node.
/// Enough for fixture adaptors and bundled adaptors that need no built-ins.
#[derive(Debug, Clone, Copy, Default)]
pub struct EsmHost;

impl AdaptorHost for EsmHost {
    fn resolve(&self, _ctx: &Ctx<'_>, base: &str, name: &str) -> rquickjs::Result<String> {
        let candidate = if name.starts_with("./") || name.starts_with("../") {
            let dir = Path::new(base).parent().unwrap_or_else(|| Path::new("/"));
            normalize(&dir.join(name))
        } else if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            return Err(rquickjs::Error::new_resolving_message(
                base,
                name,
                "bare specifiers need the node host",
            ));
        };
        for probe in [
            candidate.clone(),
            candidate.with_extension("js"),
            candidate.join("index.js"),
        ] {
            if probe.is_file() {
                return Ok(probe.to_string_lossy().into_owned());
            }
        }
        Err(rquickjs::Error::new_resolving_message(
            base,
            name,
            "file not found",
        ))
    }

    fn load<'js>(&self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>> {
        let source = std::fs::read_to_string(name)
            .map_err(|e| rquickjs::Error::new_loading_message(name, e.to_string()))?;
        Module::declare(ctx.clone(), name, source)
    }
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
