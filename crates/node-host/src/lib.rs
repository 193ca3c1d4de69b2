//! A Node-compatible host for QuickJS, so that real adaptors from npm
//! (`@openfn/language-common`, `@openfn/language-http` and their dependency trees) run
//! unmodified in an *adaptor realm*.
//!
//! What it provides:
//! - [`NodeResolver`] and [`NodeLoader`], rquickjs module resolver and loader implementing
//!   Node resolution (via `oxc_resolver`) for ES modules, CommonJS (evaluated by a CommonJS
//!   system inside the realm; named exports are the keys of `module.exports`), JSON and
//!   built-ins (`node:x` and bare `x`). Both defer names they do not own to the next resolver
//!   or loader of a tuple, so the runtime can combine them with its own.
//! - [`NodeHost::install`], which adds Node globals and the built-in modules to a context:
//!   `Buffer`, `URL`, `TextEncoder`, `AbortController`, timers (driven by the rquickjs async
//!   runtime on tokio), `console` (to a [`ConsoleSink`]), `fetch`, a fake `process`, and the
//!   modules of `js/builtins` — including a host-backed `undici`.
//! - A bytecode cache ([`HostOptions::bytecode_dir`]) so each module file is parsed once, and
//!   for each adaptor tree installed in a repo one cache file holding its resolutions and
//!   bytecode ([`NodeHost::save_module_cache`] writes it), so a run loads the tree from one file.
//!
//! What it is not: a sandbox boundary by itself. The embedder decides the [`HostPolicy`]:
//! which hosts HTTP may reach and which directories modules may be read from. The realm gets
//! no file system, environment or process access; the job realm is the runtime's business.

mod builtins;
mod bytecode;
mod crypto;
mod error;
mod host;
mod http;
mod loader;
mod policy;
#[cfg(feature = "native")]
mod resolve;
mod shared;
mod source;
pub mod timers;
#[cfg_attr(
    not(all(feature = "native", unix)),
    allow(dead_code, reason = "only the native module source caches resolutions")
)]
mod tree;
mod util;
mod zlib;

use std::path::Path;

use rquickjs::{Ctx, Module, Object};

pub use bytecode::clear_cache;
pub use error::{Error, describe_js_error};
pub use host::{HostOptions, NodeHost};
#[cfg(feature = "native")]
pub use http::ReqwestTransport;
pub use http::{
    HttpFailure, HttpFuture, HttpRequest, HttpResponse, HttpTransport, NoHttp, TlsOptions,
};
pub use loader::{NodeLoader, NodeResolver};
pub use policy::HostPolicy;
#[cfg(feature = "native")]
pub use resolve::Resolvers as FsModules;
pub use shared::{ConsoleLevel, ConsoleSink, TracingConsole};
pub use source::{ModuleKind, ModuleSource, NoModules};

/// The ESM entry point of the package in `package_dir`, the way the kit's linker finds it:
/// `exports` (a string, `exports["."]`, or its `import`/`node`/`default` condition), else
/// `main`, else `index.js`.
pub fn package_entry(host: &NodeHost, package_dir: &Path) -> Result<std::path::PathBuf, Error> {
    let modules = &host.shared.resolvers;
    let dir = modules
        .canonicalize(package_dir)
        .map_err(|source| Error::Io {
            path: package_dir.to_path_buf(),
            source,
        })?;
    let pj_path = dir.join("package.json");
    let text = modules.read_text(&pj_path).map_err(|source| Error::Io {
        path: pj_path.clone(),
        source,
    })?;
    let pj: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| Error::NoEntry(dir.clone()))?;
    let from_exports = pj.get("exports").and_then(|e| {
        let dot = match e {
            serde_json::Value::Object(m) if m.keys().any(|k| k.starts_with('.')) => m.get("."),
            other => Some(other),
        }?;
        pick_condition(dot)
    });
    let rel = from_exports
        .or_else(|| pj.get("main").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "index.js".to_owned());
    let spec = if rel.starts_with("./") || rel.starts_with("../") {
        rel
    } else {
        format!("./{rel}")
    };
    host.shared
        .resolvers
        .resolve_import(&spec, &dir)
        .map_err(|_| Error::NoEntry(dir.clone()))
}

/// The module source of a host without one: Node resolution on the file system.
/// With a bytecode cache, resolutions in installed adaptor trees come from its tree caches.
#[cfg(feature = "native")]
fn default_modules(bytecode: Option<&bytecode::BytecodeCache>) -> std::sync::Arc<dyn ModuleSource> {
    std::sync::Arc::new(resolve::Resolvers::with_trees(
        bytecode.map(bytecode::BytecodeCache::trees),
    ))
}

/// The module source of a host without one: none (the `native` feature is off).
#[cfg(not(feature = "native"))]
fn default_modules(
    _bytecode: Option<&bytecode::BytecodeCache>,
) -> std::sync::Arc<dyn ModuleSource> {
    std::sync::Arc::new(NoModules)
}

/// The HTTP transport of a host without one: reqwest.
#[cfg(feature = "native")]
fn default_http() -> std::sync::Arc<dyn HttpTransport> {
    std::sync::Arc::new(ReqwestTransport::new())
}

/// The HTTP transport of a host without one: none (the `native` feature is off).
#[cfg(not(feature = "native"))]
fn default_http() -> std::sync::Arc<dyn HttpTransport> {
    std::sync::Arc::new(NoHttp)
}

impl NodeHost {
    /// Writes the adaptor tree caches that learnt something in this process (resolutions,
    /// module formats, bytecode), so the next process loads each installed adaptor tree from
    /// one file. Call after an adaptor has loaded; cheap when there is nothing new.
    pub fn save_module_cache(&self) {
        if let Some(cache) = &self.shared.bytecode {
            cache.persist_trees();
        }
    }
}

fn pick_condition(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(m) => ["import", "node", "default"]
            .iter()
            .find_map(|c| m.get(*c).and_then(pick_condition)),
        serde_json::Value::Array(a) => a.iter().find_map(pick_condition),
        _ => None,
    }
}

/// Imports the package in `adaptor_dir` into `ctx` (which must have the host installed and
/// the host's resolver and loader set on its runtime) and returns its module namespace.
/// Await it inside `async_with!` so timers and HTTP can make progress.
pub async fn load_adaptor<'js>(
    host: &NodeHost,
    ctx: &Ctx<'js>,
    adaptor_dir: &Path,
) -> Result<Object<'js>, Error> {
    let entry = package_entry(host, adaptor_dir)?;
    import(ctx, &entry.to_string_lossy()).await
}

/// Imports the module `specifier` (an absolute path or a built-in) and returns its namespace.
pub async fn import<'js>(ctx: &Ctx<'js>, specifier: &str) -> Result<Object<'js>, Error> {
    let promise = Module::import(ctx, specifier).map_err(|e| Error::from_js(ctx, e))?;
    promise
        .into_future::<Object<'js>>()
        .await
        .map_err(|e| Error::from_js(ctx, e))
}
