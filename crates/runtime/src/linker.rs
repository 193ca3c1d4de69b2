//! Module linking for one run: the job realm may import only allow-listed specifiers (default
//! `@openfn/*`) plus `@openfn/runtime`; adaptor specifiers resolve through the plan's module map
//! or the repo (docs/execution.md §2.10) to an entry file that is evaluated in the adaptor realm, and
//! re-exposed to the job realm as a synthetic module. Imports made from adaptor code go to the
//! [`AdaptorHost`].

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::rc::Rc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declarations, Declared, Exports, ModuleDef};
use rquickjs::{Ctx, JsLifetime, Module, Object, Persistent, qjs};

use crate::error::RtError;
use crate::host::{AdaptorHost, package_version_with, repo_module_path_with};
use openfn_lexicon::log::Level;
use openfn_lexicon::plan::ModuleInfo;

/// Source of the `@openfn/runtime` module seen by jobs (§2.6). `defer` runs the operation
/// synchronously inside a `try`, as the kit's does: a synchronous throw (of the operation or of
/// the chain) goes straight to the catch handler, whose result is the operation's result, and
/// the `.then` chain is skipped; an asynchronous rejection goes through the chain.
const RUNTIME_MODULE: &str = r#"
export function defer(op, complete = (p) => p, error = (e, state) => { throw e; }) {
  return (state) => {
    try {
      const p = Promise.resolve(op(state)).catch((e) => error(e, state));
      return complete(p);
    } catch (e) {
      return error(e, state);
    }
  };
}
"#;

const ADAPTOR_PREFIX: &str = "openfn-adaptor:";

/// An adaptor namespace loaded in the adaptor realm.
pub(crate) struct LoadedAdaptor {
    pub names: Vec<String>,
    pub ns: Persistent<Object<'static>>,
}

/// A module the job realm asked for that is not loaded yet.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub spec: String,
    pub entry: PathBuf,
}

/// Cache key of a resolved entry: specifier, module path, module version.
type EntryKey = (String, Option<String>, Option<String>);

/// Linker state shared by the resolver, the loader and the synthetic modules of one run.
pub(crate) struct Linker {
    pub host: Rc<dyn AdaptorHost>,
    pub adaptor_ctx: RefCell<Option<NonNull<qjs::JSContext>>>,
    pub whitelist: Vec<String>,
    pub repo: Option<PathBuf>,
    pub modules: RefCell<BTreeMap<String, ModuleInfo>>,
    pub loaded: RefCell<HashMap<PathBuf, LoadedAdaptor>>,
    pub pending: RefCell<Vec<Pending>>,
    pub import_error: RefCell<Option<RtError>>,
    /// Lines the linker logs (level, text), flushed by the runner.
    pub resolved_logs: RefCell<Vec<(Level, String)>>,
    announced: RefCell<Vec<String>>,
    /// Entry file and package version of every adaptor resolved in this run.
    entries: RefCell<HashMap<EntryKey, (PathBuf, String)>>,
}

impl Linker {
    pub fn new(host: Rc<dyn AdaptorHost>, whitelist: Vec<String>, repo: Option<PathBuf>) -> Self {
        Linker {
            host,
            adaptor_ctx: RefCell::new(None),
            whitelist,
            repo,
            modules: RefCell::new(BTreeMap::new()),
            loaded: RefCell::new(HashMap::new()),
            pending: RefCell::new(Vec::new()),
            import_error: RefCell::new(None),
            resolved_logs: RefCell::new(Vec::new()),
            announced: RefCell::new(Vec::new()),
            entries: RefCell::new(HashMap::new()),
        }
    }

    fn is_adaptor_realm(&self, ctx: &Ctx<'_>) -> bool {
        *self.adaptor_ctx.borrow() == Some(ctx.as_raw())
    }

    fn fail(&self, error: RtError) -> rquickjs::Error {
        let message = error.message.clone();
        *self.import_error.borrow_mut() = Some(error);
        rquickjs::Error::new_loading_message("", message)
    }

    /// Whether job code may import `spec`.
    pub fn allowed(&self, spec: &str) -> bool {
        spec == "@openfn/runtime"
            || self.whitelist.is_empty()
            || self.whitelist.iter().any(|p| pattern_matches(p, spec))
    }

    /// Where the adaptor `spec` lives: its entry file.
    pub fn entry_for(&self, spec: &str) -> Result<PathBuf, Box<RtError>> {
        if spec.starts_with('/') && spec.ends_with(".js") {
            return Ok(PathBuf::from(spec));
        }
        let info = self.modules.borrow().get(spec).cloned();
        let key = (
            spec.to_string(),
            info.as_ref().and_then(|i| i.path.clone()),
            info.as_ref().and_then(|i| i.version.clone()),
        );
        let cached = self.entries.borrow().get(&key).cloned();
        if let Some((entry, version)) = cached {
            self.announce(spec, &entry, &version);
            return Ok(entry);
        }
        let root = match (&info, &self.repo) {
            (
                Some(ModuleInfo {
                    path: Some(path), ..
                }),
                _,
            ) => Some(PathBuf::from(path)),
            (info, Some(repo)) => {
                let version = info.as_ref().and_then(|i| i.version.clone());
                let read = |p: &Path| self.host.read_text(p);
                match repo_module_path_with(repo, spec, version.as_deref(), &read) {
                    Some(p) => Some(p),
                    None => {
                        return Err(Box::new(RtError::import(format!(
                            "Failed to import module \"{spec}\""
                        ))));
                    }
                }
            }
            _ => None,
        };
        let Some(root) = root else {
            return Err(Box::new(RtError::import(format!(
                "Failed to import module \"{spec}\""
            ))));
        };
        let entry = self.host.entry_point(&root).map_err(|reason| {
            Box::new(RtError::import(format!(
                "Failed to import module {spec} from {} ({reason})",
                root.display()
            )))
        })?;
        let version = package_version_with(&root, &|p| self.host.read_text(p))
            .unwrap_or_else(|| "unknown".to_string());
        self.announce(spec, &entry, &version);
        self.entries
            .borrow_mut()
            .insert(key, (entry.clone(), version));
        Ok(entry)
    }

    /// The kit's linker logs `Resolved adaptor … to version …` each time a job imports an
    /// adaptor, so once per step: once per adaptor until `begin_step`.
    fn announce(&self, spec: &str, entry: &Path, version: &str) {
        if self.announced.borrow().iter().any(|s| s == spec) {
            return;
        }
        self.announced.borrow_mut().push(spec.to_string());
        let mut logs = self.resolved_logs.borrow_mut();
        logs.push((Level::Debug, format!("[linker] loading module {spec}")));
        logs.push((
            Level::Debug,
            format!("[linker] Loading module {spec} from {}", entry.display()),
        ));
        if spec.starts_with("@openfn/language-") {
            logs.push((
                Level::Info,
                format!("Resolved adaptor {spec} to version {version}"),
            ));
        }
    }

    /// A new step starts: its imports are announced again.
    pub fn begin_step(&self) {
        self.announced.borrow_mut().clear();
    }
}

/// Match a whitelist entry: a regex source limited to literals with optional `^`/`$` anchors
/// (enough for `^@openfn/`); `/src/flags` form accepted.
pub fn pattern_matches(pattern: &str, spec: &str) -> bool {
    let mut p = pattern;
    if p.len() > 1
        && p.starts_with('/')
        && let Some(end) = p.rfind('/')
        && end > 0
    {
        p = &p[1..end];
    }
    let anchored_start = p.starts_with('^');
    let anchored_end = p.ends_with('$') && !p.ends_with("\\$");
    let mut body = p.trim_start_matches('^');
    if anchored_end {
        body = &body[..body.len() - 1];
    }
    let literal = body.replace('\\', "");
    match (anchored_start, anchored_end) {
        (true, true) => spec == literal,
        (true, false) => spec.starts_with(&literal),
        (false, true) => spec.ends_with(&literal),
        (false, false) => spec.contains(&literal),
    }
}

/// The resolver installed on the run's QuickJS runtime.
pub(crate) struct RunResolver(pub Rc<Linker>);

impl Resolver for RunResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        let linker = &self.0;
        if linker.is_adaptor_realm(ctx) {
            return linker.host.resolve(ctx, base, name);
        }
        if !linker.allowed(name) {
            return Err(linker.fail(RtError::import(format!("module blacklisted: {name}"))));
        }
        if name == "@openfn/runtime" {
            return Ok(name.to_string());
        }
        match linker.entry_for(name) {
            Ok(entry) => {
                let resolved = format!("{ADAPTOR_PREFIX}{}", entry.display());
                if !linker.loaded.borrow().contains_key(&entry) {
                    linker.pending.borrow_mut().push(Pending {
                        spec: name.to_string(),
                        entry,
                    });
                }
                Ok(resolved)
            }
            Err(e) => Err(linker.fail(*e)),
        }
    }
}

/// The loader installed on the run's QuickJS runtime.
pub(crate) struct RunLoader(pub Rc<Linker>);

impl Loader for RunLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let linker = &self.0;
        if linker.is_adaptor_realm(ctx) {
            return linker.host.load(ctx, name);
        }
        if name == "@openfn/runtime" {
            return Module::declare(ctx.clone(), name, RUNTIME_MODULE);
        }
        if let Some(path) = name.strip_prefix(ADAPTOR_PREFIX) {
            let entry = PathBuf::from(path);
            if linker.loaded.borrow().contains_key(&entry) {
                return Module::declare_def::<AdaptorModule, _>(ctx.clone(), name);
            }
            return Err(rquickjs::Error::new_loading_message(
                name,
                "adaptor not loaded yet",
            ));
        }
        Err(linker.fail(RtError::import(format!(
            "Failed to import module \"{name}\""
        ))))
    }
}

/// Userdata giving synthetic modules access to the run's linker.
pub(crate) struct LinkerData(pub Rc<Linker>);

#[allow(
    unsafe_code,
    reason = "rquickjs userdata must implement the unsafe JsLifetime trait"
)]
// SAFETY: LinkerData has no lifetime parameter and holds no value bound to a `'js` lifetime
// (adaptor namespaces are stored as `Persistent`), so changing the lifetime is a no-op.
unsafe impl<'js> JsLifetime<'js> for LinkerData {
    type Changed<'to> = LinkerData;
}

fn lookup<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<(Vec<String>, Object<'js>)> {
    let data = ctx
        .userdata::<LinkerData>()
        .ok_or_else(|| rquickjs::Error::new_loading_message(name, "linker missing"))?;
    let path = name.strip_prefix(ADAPTOR_PREFIX).unwrap_or(name);
    let loaded = data.0.loaded.borrow();
    let adaptor = loaded
        .get(&PathBuf::from(path))
        .ok_or_else(|| rquickjs::Error::new_loading_message(name, "adaptor not loaded"))?;
    let ns = adaptor.ns.clone().restore(ctx)?;
    Ok((adaptor.names.clone(), ns))
}

/// A job-realm module whose exports are an adaptor namespace's values.
struct AdaptorModule;

impl ModuleDef for AdaptorModule {
    fn declare<'js>(decl: &Declarations<'js>) -> rquickjs::Result<()> {
        let module = decl.module();
        let name: String = module.name()?;
        let (names, _) = lookup(module.ctx(), &name)?;
        for n in names {
            decl.declare(n)?;
        }
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> rquickjs::Result<()> {
        let name: String = exports.module().name()?;
        let (names, ns) = lookup(ctx, &name)?;
        for n in names {
            let value: rquickjs::Value<'js> = ns.get(n.as_str())?;
            exports.export(n, value)?;
        }
        Ok(())
    }
}
