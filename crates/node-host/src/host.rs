//! `NodeHost`: the shared state of the host (policy, resolvers, bytecode cache, HTTP client,
//! console sink) and `install`, which bootstraps a QuickJS context into a Node-like adaptor
//! realm by handing the bootstrap script a small object of Rust functions.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rquickjs::function::Func;
use rquickjs::prelude::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray, Value};

use crate::builtins;
use crate::bytecode::BytecodeCache;
use crate::error::Error;
use crate::http::HttpTransport;
use crate::policy::HostPolicy;
use crate::shared::{ConsoleLevel, ConsoleSink, Shared, TracingConsole};
use crate::source::ModuleSource;
use crate::timers::Cancel;
use crate::util::{bytes_of, compile_script, not_found, throw_error};

/// The internal objects of the installed realms of one QuickJS runtime, by context. They live
/// in the runtime's userdata, never on a realm's global object: nothing in a realm can reach
/// them, only the Rust loader.
struct RealmInternals<'js> {
    realms: RefCell<Vec<RealmInternal<'js>>>,
}

#[allow(
    unsafe_code,
    reason = "rquickjs userdata must implement the unsafe JsLifetime trait"
)]
// SAFETY: the only `'js` values held are the `Object<'js>`s of `RealmInternal`, and `Changed`
// replaces exactly that lifetime, as the trait requires.
unsafe impl<'js> rquickjs::JsLifetime<'js> for RealmInternals<'js> {
    type Changed<'to> = RealmInternals<'to>;
}

/// The internal object of the realm whose context is at address `ctx`.
struct RealmInternal<'js> {
    ctx: usize,
    internal: Object<'js>,
}

/// The address of a context, as the key of its realm's internal object.
fn context_key(ctx: &Ctx<'_>) -> usize {
    ctx.as_raw().as_ptr() as usize
}

/// The Node-compatible host for one embedder. Cheap to clone; share one per process (it holds
/// the resolution cache and the HTTP connection pools).
#[derive(Clone)]
pub struct NodeHost {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for NodeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHost")
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// Options of a host beyond its policy.
#[derive(Clone, Default)]
pub struct HostOptions {
    /// Directory for the QuickJS bytecode cache; `None` compiles from source every time.
    pub bytecode_dir: Option<PathBuf>,
    /// Where adaptor `console` output goes; defaults to [`TracingConsole`].
    pub console: Option<Arc<dyn ConsoleSink>>,
    /// Where module files are resolved and read; defaults to Node resolution on the file
    /// system (the `native` feature), else to no modules at all.
    pub modules: Option<Arc<dyn ModuleSource>>,
    /// Who performs HTTP requests; defaults to the reqwest client (the `native` feature), else
    /// to refusing every request.
    pub http: Option<Arc<dyn HttpTransport>>,
}

impl NodeHost {
    /// A host with the given policy, no bytecode cache and console output to `tracing`.
    pub fn new(policy: HostPolicy) -> Self {
        Self::with_options(policy, HostOptions::default())
    }

    /// A host with the given policy and options.
    pub fn with_options(policy: HostPolicy, options: HostOptions) -> Self {
        let bytecode = options
            .bytecode_dir
            .map(|dir| BytecodeCache::new(dir, &policy.module_roots));
        let shared = Shared {
            resolvers: options
                .modules
                .unwrap_or_else(|| crate::default_modules(bytecode.as_ref())),
            bytecode,
            console: options.console.unwrap_or_else(|| Arc::new(TracingConsole)),
            http: options.http.unwrap_or_else(crate::default_http),
            policy,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Reads a file through the host's module source (the file system natively; the wasm
    /// guest's host, read-only under the adaptor repo, there). No policy check: the runtime's
    /// linker reads the repo's and adaptors' `package.json` with it.
    pub fn read_text(&self, path: &Path) -> std::io::Result<String> {
        self.shared.resolvers.read_text(path)
    }

    /// The policy this host enforces.
    pub fn policy(&self) -> &HostPolicy {
        &self.shared.policy
    }

    /// Turns `ctx` into an adaptor realm: Node globals (`Buffer`, `URL`, timers, `fetch`,
    /// `console`, `process` without any real process access…), the CommonJS module system and
    /// the built-in modules. Call before loading modules into the context; calling it again on
    /// the same context does nothing.
    pub fn install(&self, ctx: &Ctx<'_>) -> Result<(), Error> {
        self.install_inner(ctx).map_err(|e| Error::from_js(ctx, e))
    }

    fn install_inner<'js>(&self, ctx: &Ctx<'js>) -> rquickjs::Result<()> {
        if internal(ctx).is_ok() {
            return Ok(());
        }
        let host = Object::new(ctx.clone())?;
        self.add_module_functions(ctx, &host)?;
        add_timer_functions(ctx, &host)?;
        add_crypto_functions(ctx, &host)?;
        add_url_functions(ctx, &host)?;
        add_zlib_function(ctx, &host)?;
        self.add_console_function(ctx, &host)?;
        crate::http::add_fetch_function(ctx, &host, self.shared.clone())?;
        let mut options = rquickjs::context::EvalOptions::default();
        options.strict = false;
        options.filename = Some("node:internal/bootstrap".to_owned());
        let init: Function<'js> = ctx.eval_with_options(builtins::BOOTSTRAP, options)?;
        let internal: Object<'js> = init.call((host,))?;
        if ctx.userdata::<RealmInternals<'js>>().is_none() {
            let fresh = RealmInternals {
                realms: RefCell::new(Vec::new()),
            };
            ctx.store_userdata(fresh)
                .map_err(|_| loading_error("the runtime's userdata is busy"))?;
        }
        let store = ctx
            .userdata::<RealmInternals<'js>>()
            .ok_or_else(|| loading_error("the runtime's userdata is busy"))?;
        store.realms.borrow_mut().push(RealmInternal {
            ctx: context_key(ctx),
            internal,
        });
        Ok(())
    }

    fn add_module_functions<'js>(
        &self,
        _ctx: &Ctx<'js>,
        host: &Object<'js>,
    ) -> rquickjs::Result<()> {
        let names: Vec<String> = builtins::BUILTIN_NAMES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        host.set("builtinNames", Func::from(move || names.clone()))?;
        let internal: Vec<String> = builtins::FILES
            .iter()
            .map(|(k, _)| (*k).to_owned())
            .collect();
        host.set("internalNames", Func::from(move || internal.clone()))?;

        let shared = self.shared.clone();
        host.set(
            "resolve",
            Func::from(
                move |ctx: Ctx<'js>, spec: String, dir: String, _kind: Opt<String>| match shared
                    .resolvers
                    .resolve_require(&spec, Path::new(&dir))
                {
                    Ok(path) if shared.policy.path_allowed(&path) => {
                        Ok(path.to_string_lossy().into_owned())
                    }
                    // missing and not allowed are the same error (no file-system oracle)
                    _ => Err(not_found(&ctx, &spec)),
                },
            ),
        )?;
        let shared = self.shared.clone();
        host.set(
            "kind",
            Func::from(move |path: String| shared.resolvers.kind(Path::new(&path)).as_str()),
        )?;
        let shared = self.shared.clone();
        host.set(
            "readText",
            Func::from(move |ctx: Ctx<'js>, path: String| read_module_text(&ctx, &shared, &path)),
        )?;
        let shared = self.shared.clone();
        host.set(
            "compileFile",
            Func::from(
                move |ctx: Ctx<'js>, path: String| -> rquickjs::Result<Function<'js>> {
                    let read = || {
                        let source = read_module_text(&ctx, &shared, &path)?;
                        Ok(strip_hashbang(&source).to_owned())
                    };
                    match &shared.bytecode {
                        Some(cache) => cache.compile_cjs_file(&ctx, &path, CJS_PARAMS, read),
                        None => compile_script(&ctx, &read()?, &path, CJS_PARAMS),
                    }
                },
            ),
        )?;
        let shared = self.shared.clone();
        host.set(
            "compileInternal",
            Func::from(
                move |ctx: Ctx<'js>,
                      key: String,
                      name: String|
                      -> rquickjs::Result<Function<'js>> {
                    let Some(source) = builtins::file(&key) else {
                        return Err(throw_error(
                            &ctx,
                            &format!("no internal module {key}"),
                            None,
                        ));
                    };
                    match &shared.bytecode {
                        Some(cache) => cache.compile_cjs(&ctx, source, &name, INTERNAL_PARAMS),
                        None => compile_script(&ctx, source, &name, INTERNAL_PARAMS),
                    }
                },
            ),
        )?;
        Ok(())
    }

    fn add_console_function<'js>(
        &self,
        ctx: &Ctx<'js>,
        host: &Object<'js>,
    ) -> rquickjs::Result<()> {
        let _ = ctx;
        let sink = self.shared.console.clone();
        host.set(
            "log",
            Func::from(move |level: String, message: String| {
                let level = match level.as_str() {
                    "debug" | "trace" => ConsoleLevel::Debug,
                    "warn" => ConsoleLevel::Warn,
                    "error" => ConsoleLevel::Error,
                    _ => ConsoleLevel::Info,
                };
                sink.log(level, &message);
            }),
        )?;
        Ok(())
    }
}

pub(crate) const CJS_PARAMS: &[&str] = &["exports", "require", "module", "__filename", "__dirname"];
const INTERNAL_PARAMS: &[&str] = &[
    "exports",
    "require",
    "module",
    "__filename",
    "__dirname",
    "binding",
];

fn strip_hashbang(source: &str) -> &str {
    if source.starts_with("#!") {
        // Keep the line count: drop the text of the first line only.
        match source.find('\n') {
            Some(idx) => &source[idx..],
            None => "",
        }
    } else {
        source
    }
}

fn read_module_text(ctx: &Ctx<'_>, shared: &Shared, path: &str) -> rquickjs::Result<String> {
    let p = Path::new(path);
    if !p.is_absolute() || !shared.policy.path_allowed(p) {
        return Err(not_found(ctx, path));
    }
    shared
        .resolvers
        .read_text(p)
        .map_err(|_| not_found(ctx, path))
}

struct TimerState {
    next: Cell<u32>,
    cancels: RefCell<HashMap<u32, Cancel>>,
}

fn add_timer_functions<'js>(_ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    let state = Rc::new(TimerState {
        next: Cell::new(1),
        cancels: RefCell::new(HashMap::new()),
    });
    let st = state.clone();
    host.set(
        "setTimer",
        Func::from(
            move |ctx: Ctx<'js>, ms: f64, repeat: bool, cb: Function<'js>| -> u32 {
                let id = st.next.get();
                st.next.set(id.wrapping_add(1).max(1));
                let cancel = Cancel::default();
                st.cancels.borrow_mut().insert(id, cancel.clone());
                let delay = Duration::from_secs_f64(
                    (if ms.is_finite() { ms } else { 1.0 }).max(1.0) / 1000.0,
                );
                let st2 = st.clone();
                let ctx2 = ctx.clone();
                ctx.spawn(async move {
                    loop {
                        if !cancel.sleep(delay).await {
                            break;
                        }
                        if let Err(e) = cb.call::<_, ()>(()) {
                            report_uncaught(&ctx2, e);
                        }
                        if !repeat {
                            break;
                        }
                    }
                    st2.cancels.borrow_mut().remove(&id);
                });
                id
            },
        ),
    )?;
    let st = state;
    host.set(
        "clearTimer",
        Func::from(move |id: u32| {
            if let Some(n) = st.cancels.borrow_mut().remove(&id) {
                n.cancel();
            }
        }),
    )?;
    Ok(())
}

/// Reports an exception thrown by a callback the host called (a timer), through the realm's
/// `console.error`, as Node prints uncaught exceptions.
pub(crate) fn report_uncaught(ctx: &Ctx<'_>, err: rquickjs::Error) {
    let text = crate::error::describe_js_error(ctx, err);
    let console: rquickjs::Result<Object<'_>> = ctx.globals().get("console");
    if let Ok(console) = console
        && let Ok(error) = console.get::<_, Function<'_>>("error")
    {
        let _ = error.call::<_, ()>((format!("Uncaught {text}"),));
    }
}

fn add_crypto_functions<'js>(_ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    use rand::RngCore;
    host.set(
        "randomBytes",
        Func::from(
            |ctx: Ctx<'js>, n: usize| -> rquickjs::Result<ArrayBuffer<'js>> {
                if n > 1 << 30 {
                    return Err(Exception::throw_range(
                        &ctx,
                        "randomBytes size is too large",
                    ));
                }
                let mut buf = vec![0u8; n];
                rand::rng().fill_bytes(&mut buf);
                ArrayBuffer::new(ctx, buf)
            },
        ),
    )?;
    host.set(
        "randomUUID",
        Func::from(|| uuid::Uuid::new_v4().to_string()),
    )?;
    host.set(
        "digest",
        Func::from(
            |ctx: Ctx<'js>,
             alg: String,
             data: TypedArray<'js, u8>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let data = bytes_of(&data);
                let out = crate::crypto::digest(&alg, &data).ok_or_else(|| {
                    throw_error(
                        &ctx,
                        "Digest method not supported",
                        Some("ERR_CRYPTO_INVALID_DIGEST"),
                    )
                })?;
                ArrayBuffer::new(ctx, out)
            },
        ),
    )?;
    host.set(
        "hmac",
        Func::from(
            |ctx: Ctx<'js>,
             alg: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let out = crate::crypto::hmac(&alg, &bytes_of(&key), &bytes_of(&data)).ok_or_else(
                    || {
                        throw_error(
                            &ctx,
                            &format!("Invalid digest: {alg}"),
                            Some("ERR_CRYPTO_INVALID_DIGEST"),
                        )
                    },
                )?;
                ArrayBuffer::new(ctx, out)
            },
        ),
    )?;
    Ok(())
}

fn add_zlib_function<'js>(_ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    host.set(
        "zlib",
        Func::from(
            |ctx: Ctx<'js>,
             op: String,
             data: TypedArray<'js, u8>,
             level: Opt<Option<i32>>,
             window: Opt<Option<i32>>|
             -> rquickjs::Result<ArrayBuffer<'js>> {
                let opts = crate::zlib::ZlibOptions {
                    level: level.0.flatten(),
                    window: window.0.flatten(),
                };
                let out = crate::zlib::run(&op, &bytes_of(&data), opts).map_err(|e| {
                    match Exception::from_message(ctx.clone(), &e.message) {
                        Ok(exc) => {
                            let _ = exc.set("code", e.code);
                            let _ = exc.set("errno", e.errno);
                            exc.throw()
                        }
                        Err(err) => err,
                    }
                })?;
                ArrayBuffer::new(ctx, out)
            },
        ),
    )?;
    Ok(())
}

fn add_url_functions<'js>(_ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    host.set(
        "urlParse",
        Func::from(|input: String, base: Opt<String>| -> Option<Vec<String>> {
            let parsed = match base.0 {
                Some(base) => url::Url::parse(&base).ok()?.join(&input).ok()?,
                None => url::Url::parse(&input).ok()?,
            };
            Some(url_parts(&parsed))
        }),
    )?;
    host.set(
        "urlSet",
        Func::from(
            |href: String, field: String, value: String| -> Option<Vec<String>> {
                let mut u = url::Url::parse(&href).ok()?;
                match field.as_str() {
                    "protocol" => {
                        let _ = u.set_scheme(value.trim_end_matches(':'));
                    }
                    "username" => {
                        let _ = u.set_username(&value);
                    }
                    "password" => {
                        let _ = u.set_password(if value.is_empty() { None } else { Some(&value) });
                    }
                    "host" => {
                        let (h, p) = match value.rsplit_once(':') {
                            Some((h, p))
                                if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']')
                                    || p.is_empty() =>
                            {
                                (h.to_owned(), p.parse::<u16>().ok())
                            }
                            _ => (value.clone(), None),
                        };
                        if u.set_host(Some(&h)).is_ok() {
                            let _ = u.set_port(p);
                        }
                    }
                    "hostname" => {
                        let _ = u.set_host(Some(&value));
                    }
                    "port" => {
                        let _ = u.set_port(if value.is_empty() {
                            None
                        } else {
                            value.parse().ok()
                        });
                    }
                    "pathname" => u.set_path(&value),
                    "search" => {
                        let v = value.strip_prefix('?').unwrap_or(&value);
                        u.set_query(if v.is_empty() { None } else { Some(v) });
                    }
                    "hash" => {
                        let v = value.strip_prefix('#').unwrap_or(&value);
                        u.set_fragment(if v.is_empty() { None } else { Some(v) });
                    }
                    "href" => u = url::Url::parse(&value).ok()?,
                    _ => {}
                }
                Some(url_parts(&u))
            },
        ),
    )?;
    host.set(
        "domainToASCII",
        Func::from(|d: String| {
            url::Url::parse(&format!("http://{d}/"))
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        }),
    )?;
    let _unused: Option<Value<'js>> = None;
    Ok(())
}

fn url_parts(u: &url::Url) -> Vec<String> {
    let search = match u.query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    };
    let hash = match u.fragment() {
        Some(f) if !f.is_empty() => format!("#{f}"),
        _ => String::new(),
    };
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => String::new(),
    };
    let origin = u.origin().ascii_serialization();
    vec![
        u.as_str().to_owned(),
        origin,
        format!("{}:", u.scheme()),
        u.username().to_owned(),
        u.password().unwrap_or_default().to_owned(),
        host,
        u.host_str().unwrap_or_default().to_owned(),
        u.port().map(|p| p.to_string()).unwrap_or_default(),
        u.path().to_owned(),
        search,
        hash,
    ]
}

/// The internal object of an installed realm (kept by the runtime, out of the realm's reach).
pub(crate) fn internal<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let key = context_key(ctx);
    ctx.userdata::<RealmInternals<'js>>()
        .and_then(|store| {
            store
                .realms
                .borrow()
                .iter()
                .find(|r| r.ctx == key)
                .map(|r| r.internal.clone())
        })
        .ok_or_else(|| loading_error("the node host is not installed in this context"))
}

fn loading_error(message: &str) -> rquickjs::Error {
    rquickjs::Error::new_loading_message("node host", message)
}
