//! Plan mode: the guest runs a whole execution plan through `openfn-runtime` (workflows with
//! edges and conditions, the Node host for adaptors), exactly the code of the native tier.
//! What the native tier gets from the operating system comes from the host's imports:
//!
//! - module files: `call(RESOLVE_IMPORT | RESOLVE_REQUIRE | KIND | READ | CANONICALIZE)`, which
//!   the host answers read-only under the adaptor repo root it was given;
//! - HTTP: `call(HTTP)`, performed by the host's reqwest client under its policy (the guest
//!   sees a Promise that is settled when the call returns);
//! - credentials and dataclips (a step's `configuration` or the input given by id):
//!   `call(CREDENTIAL | DATACLIP)`, answered by the embedder's resolver on the host;
//! - log lines and the runtime's events go out through `emit`; the host stamps each event with
//!   the fuel used so far.
//!
//! Timers run on the node host's virtual clock, advanced by [`block_on`] when nothing else can
//! make progress.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use openfn_lexicon::log::{LogLevel, LogLine};
use openfn_lexicon::plan::{ExecutionPlan, ModuleInfo};
use openfn_lexicon::wasm_call::{
    CANONICALIZE, CREDENTIAL, DATACLIP, HTTP, KIND, READ, RESOLVE_IMPORT, RESOLVE_REQUIRE,
};
use openfn_node_host::{
    HostOptions, HostPolicy, HttpFailure, HttpFuture, HttpRequest, HttpResponse, HttpTransport,
    ModuleKind, ModuleSource, NodeHost,
};
use openfn_runtime::{
    Callbacks, Event, Input, NodeAdaptorHost, Prepared, RunError, RunOptions, StateJson,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{call_host, read_input, send};

/// What the host says about the run besides the plan and the input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GuestOptions {
    /// The adaptor repo root (modules load from `<repo>/node_modules`).
    repo: Option<PathBuf>,
    /// Adaptors linked to local directories.
    #[serde(default)]
    modules: BTreeMap<String, ModuleInfo>,
    #[serde(default)]
    log_level: Option<LogLevel>,
    #[serde(default)]
    run_timeout_ms: Option<u64>,
    #[serde(default)]
    state_props_to_remove: Option<Vec<String>>,
    /// `console.log` of objects as node's text console prints them (the runtime's
    /// `console_text`: errors with their stack, `undefined`, dates).
    #[serde(default)]
    console_text: bool,
    /// Adaptor frames in error stacks carry `?cache=<key>` (the worker's run id).
    #[serde(default)]
    adaptor_cache_key: Option<String>,
    /// The adaptors to evaluate ahead of any run (snapshot initialisation only).
    #[serde(default)]
    prepare: BTreeMap<String, ModuleInfo>,
    /// Extra job globals (the worker's `meta`).
    #[serde(default)]
    globals: Option<Value>,
}

/// The host's answer to a `call`: `{"ok": ...}` or `{"err": "..."}`.
fn ask(op: u32, request: &Value) -> Result<Value, String> {
    let reply = call_host(op, &request.to_string());
    let mut v: Value = serde_json::from_str(&reply).map_err(|e| e.to_string())?;
    match v.get_mut("ok") {
        Some(ok) => Ok(ok.take()),
        None => Err(v
            .get("err")
            .and_then(Value::as_str)
            .unwrap_or("the host refused")
            .to_owned()),
    }
}

fn io_error(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotFound, message)
}

/// Module files, from the host.
struct HostModules;

impl ModuleSource for HostModules {
    fn resolve_import(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        ask(RESOLVE_IMPORT, &json!({ "spec": spec, "dir": dir }))
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
    }
    fn resolve_require(&self, spec: &str, dir: &Path) -> Result<PathBuf, String> {
        ask(RESOLVE_REQUIRE, &json!({ "spec": spec, "dir": dir }))
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
    }
    fn kind(&self, path: &Path) -> ModuleKind {
        ask(KIND, &json!({ "path": path }))
            .ok()
            .and_then(|v| v.as_str().and_then(ModuleKind::parse))
            .unwrap_or(ModuleKind::CommonJs)
    }
    fn read_text(&self, path: &Path) -> std::io::Result<String> {
        match ask(READ, &json!({ "path": path })).map_err(io_error)? {
            Value::String(s) => Ok(s),
            _ => Err(io_error("not text".to_owned())),
        }
    }
    fn canonicalize(&self, dir: &Path) -> std::io::Result<PathBuf> {
        ask(CANONICALIZE, &json!({ "path": dir }))
            .and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
            .map_err(io_error)
    }
}

/// HTTP, performed by the host (synchronously: the Promise settles when the call returns).
struct HostHttp;

impl HttpTransport for HostHttp {
    fn send(&self, _policy: &HostPolicy, req: HttpRequest) -> HttpFuture {
        let answer = serde_json::to_value(&req)
            .map_err(|e| e.to_string())
            .and_then(|r| ask(HTTP, &r));
        let result = match answer {
            Ok(v) => match serde_json::from_value::<Result<HttpResponse, HttpFailure>>(v) {
                Ok(r) => r,
                Err(e) => Err(HttpFailure::new(e.to_string(), "UND_ERR_SOCKET")),
            },
            Err(e) => Err(HttpFailure::new(e, "UND_ERR_SOCKET")),
        };
        Box::pin(async move { result })
    }
}

/// Sends the runtime's log lines and events to the host.
struct Emitter;

impl Callbacks for Emitter {
    fn notify(&self, event: Event) -> impl Future<Output = ()> {
        send(
            &json!({ "type": "event", "name": event.name(), "payload": event.payload() })
                .to_string(),
        );
        async {}
    }

    fn log(&self, line: LogLine) {
        send(&json!({ "type": "line", "line": line }).to_string());
    }

    fn resolve_credential(&self, id: &str) -> impl Future<Output = Result<Value, String>> {
        let answer = ask(CREDENTIAL, &json!({ "id": id }));
        async move { answer }
    }

    fn resolve_state(&self, id: &str) -> impl Future<Output = Result<Value, String>> {
        let answer = ask(DATACLIP, &json!({ "id": id }));
        async move { answer }
    }
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `f` to completion on this thread: polls it while something woke it, else moves the
/// virtual clock to the next timer; `None` when it waits on something that can never happen.
pub(crate) fn block_on<F: Future>(f: F) -> Option<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        if !flag.0.load(Ordering::SeqCst) && !openfn_node_host::timers::advance() {
            return None;
        }
    }
}

/// The runtime's options for `options` (the same for preparing and for every run of the
/// prepared runtime: its adaptor host, policy and repo).
fn runtime_options(options: &GuestOptions) -> RunOptions {
    let mut policy = HostPolicy::deny_all().allow_host("*");
    if let Some(repo) = &options.repo {
        policy = policy.allow_modules_under(repo.join("node_modules"));
    }
    for info in options.modules.values() {
        if let Some(p) = &info.path {
            policy = policy.allow_modules_under(p);
        }
    }
    let host = NodeHost::with_options(
        policy,
        HostOptions {
            modules: Some(Arc::new(HostModules)),
            http: Some(Arc::new(HostHttp)),
            ..HostOptions::default()
        },
    );
    RunOptions {
        repo: options.repo.clone(),
        modules: options.modules.clone(),
        log_level: options.log_level.unwrap_or(LogLevel::Info),
        run_timeout_ms: options.run_timeout_ms,
        state_props_to_remove: options.state_props_to_remove.clone(),
        console_text: options.console_text,
        adaptor_cache_key: options.adaptor_cache_key.clone(),
        globals: options.globals.clone(),
        adaptor_host: Rc::new(NodeAdaptorHost::new(host)),
        ..RunOptions::default()
    }
}

thread_local! {
    /// The runtime [`prepare`] made (in the snapshot's memory), for the instance's one run.
    static PREPARED: RefCell<Option<Prepared>> = const { RefCell::new(None) };
}

/// The snapshot's initialisation (`wizer-initialize`): input 2 holds the run options with
/// `prepare` (adaptor name → module info); a QuickJS runtime with those adaptors evaluated is
/// kept for the run that starts from the snapshot. A failure is reported as an `abort`
/// message (the host then runs without a snapshot).
pub(crate) fn prepare() {
    let fail = |message: String| {
        send(&json!({ "type": "abort", "error": { "type": "ExitError", "name": "ExitError", "severity": "crash", "message": message } }).to_string());
    };
    let options: GuestOptions = match serde_json::from_str(&read_input(2)) {
        Ok(o) => o,
        Err(e) => return fail(format!("invalid options: {e}")),
    };
    let run_options = runtime_options(&options);
    match block_on(Prepared::new(&run_options, options.prepare.clone())) {
        Some(Ok(prepared)) => PREPARED.with(|p| *p.borrow_mut() = Some(prepared)),
        Some(Err(e)) => fail(format!("preparing the adaptors failed: {e}")),
        None => fail("preparing the adaptors never finished".to_owned()),
    }
}

/// Runs `plan` against `input` with the options the host gave, reporting through `emit`; in
/// the runtime [`prepare`] made when this instance started from a snapshot.
pub(crate) fn run(plan: &str, input: &str, options: &str) {
    let fail = |message: String| {
        send(&json!({ "type": "abort", "error": { "type": "ExitError", "name": "ExitError", "severity": "crash", "message": message } }).to_string());
    };
    let plan = match serde_json::from_str::<Value>(plan)
        .map_err(|e| e.to_string())
        .and_then(|v| ExecutionPlan::from_value(v).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => return fail(format!("invalid plan: {e}")),
    };
    let options: GuestOptions = match serde_json::from_str(options) {
        Ok(o) => o,
        Err(e) => return fail(format!("invalid options: {e}")),
    };
    let run_options = runtime_options(&options);
    let input = if input.trim().is_empty() {
        Input::Empty
    } else {
        Input::State(StateJson::from_text(input))
    };
    // The prepared runtime stays in its thread-local, never dropped: the instance ends with
    // this run, and freeing the adaptors' realm would only cost time (and copy-on-write pages).
    let result = PREPARED.with_borrow(|prepared| match prepared {
        Some(prepared) => {
            // Fresh per run, as a run forked from a native template: the snapshot holds the
            // preparation's generator state and virtual clock.
            openfn_runtime::reseed_random();
            openfn_node_host::timers::reset();
            send(r#"{"type":"prepared"}"#);
            block_on(openfn_runtime::run_prepared(
                prepared,
                &plan,
                input,
                run_options,
                Rc::new(Emitter),
            ))
        }
        None => block_on(openfn_runtime::run(
            &plan,
            input,
            run_options,
            Rc::new(Emitter),
        )),
    });
    match result {
        Some(Ok(outcome)) => {
            let state = outcome
                .state
                .map_or("null".to_owned(), |s| s.as_str().to_owned());
            send(&format!(r#"{{"type":"done","state":{state}}}"#));
        }
        Some(Err(RunError::Aborted(e))) => {
            send(&json!({ "type": "abort", "error": e.to_value() }).to_string());
        }
        Some(Err(e)) => fail(e.to_string()),
        None => fail("the workflow is waiting on a promise that can never settle".to_owned()),
    }
}
