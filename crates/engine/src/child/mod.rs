//! The child side of the engine: the loop a pooled child process runs. It reads runs from the
//! supervisor over stdin, executes them one at a time through a [`ChildJob`], and streams events
//! back over stdout. Everything that touches job code (compiling, running, serialising states)
//! happens here, under this process's memory limits.
//!
//! Binaries call [`maybe_run_child`] first thing in `main`: when started with the hidden
//! [`CHILD_FLAG`] it becomes a child and never returns.

mod job;
mod js;
mod sanitize;
#[cfg(feature = "wasm")]
mod wasm;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use openfn_runtime::deep_json;
use serde_json::value::RawValue;

pub use job::{ChildJob, Failure, JobRequest, JobSink};
pub use js::{ForkedJsJob, JsJob, compile_plan, prepare_template};

pub use crate::config::{CHILD_FLAG, TEMPLATE_FLAG, WASM_CHILD_FLAG};
use crate::event::{ErrorInfo, Mem, Severity, now_ns};
use crate::ipc::{self, ChildEvent, ResolveKind, RunSettings, ToChild, ToParent};
use crate::sys;
pub use crate::template::{TemplateSpec, is_template_invocation, run_template};
#[cfg(feature = "wasm")]
pub use wasm::WasmJob;

/// Exit code of a child whose channel to the supervisor broke.
const EXIT_CHANNEL_LOST: i32 = 3;

/// If this process was started as an engine child (`argv[1]` is [`CHILD_FLAG`]), runs the
/// child loop with the real compiler and runtime and exits; as a template
/// ([`TEMPLATE_FLAG`]), prepares the adaptor set and forks one process per run; otherwise
/// returns at once.
pub fn maybe_run_child() {
    if is_template_invocation() {
        run_template(
            |spec| Ok((js::prepare_template(spec)?, spec.whitelist.clone())),
            |prepared| forked_js_job_or_exit(prepared),
        );
    }
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == WASM_CHILD_FLAG)
    {
        run_wasm_child();
    }
    if is_child_invocation() {
        match JsJob::new() {
            Ok(job) => run_child(&job),
            Err(e) => {
                eprintln!("openfn-engine child: cannot start the async runtime: {e}");
                std::process::exit(EXIT_CHANNEL_LOST);
            }
        }
    }
}

/// The wasm child: loads the guest (`argv[2]`, artifact cache `argv[3]`) once, then runs the
/// child loop with a [`WasmJob`]. Never returns.
#[cfg(feature = "wasm")]
fn run_wasm_child() -> ! {
    let mut args = std::env::args_os().skip(2);
    let (Some(guest), Some(cache)) = (args.next(), args.next()) else {
        eprintln!("openfn-engine wasm child: expected the guest module and the cache directory");
        std::process::exit(EXIT_CHANNEL_LOST);
    };
    match WasmJob::load(std::path::Path::new(&guest), std::path::Path::new(&cache)) {
        Ok(job) => run_child(&job),
        Err(e) => {
            eprintln!("openfn-engine wasm child: {e}");
            std::process::exit(EXIT_CHANNEL_LOST);
        }
    }
}

#[cfg(not(feature = "wasm"))]
fn run_wasm_child() -> ! {
    eprintln!("openfn-engine wasm child: this build has no wasm tier (the `wasm` feature)");
    std::process::exit(EXIT_CHANNEL_LOST);
}

/// The job of a forked run: the template's prepared runtime (this process's copy of it).
fn forked_js_job_or_exit(
    prepared: &(openfn_runtime::Prepared, Vec<String>),
) -> Box<dyn ChildJob + '_> {
    match js::ForkedJsJob::new(&prepared.0, prepared.1.clone()) {
        Ok(job) => Box::new(job),
        Err(e) => {
            eprintln!("openfn-engine run: cannot start the async runtime: {e}");
            std::process::exit(EXIT_CHANNEL_LOST);
        }
    }
}

/// Whether `argv[1]` is the hidden child flag.
pub fn is_child_invocation() -> bool {
    std::env::args_os().nth(1).is_some_and(|a| a == CHILD_FLAG)
}

/// Runs the child loop with `job` executing every run; never returns.
pub fn run_child(job: &(dyn ChildJob + Sync)) -> ! {
    let code = match child_loop(job) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("openfn-engine child: {e}");
            EXIT_CHANNEL_LOST
        }
    };
    std::process::exit(code)
}

struct Shared {
    out: Mutex<BufWriter<File>>,
    pending: Mutex<HashMap<u64, mpsc::Sender<Result<String, String>>>>,
    next_req: AtomicU64,
    current_run: AtomicU64,
    interrupt: Mutex<Arc<AtomicBool>>,
}

impl Shared {
    fn send(&self, message: &ToParent, body: &[u8]) {
        let result = match self.out.lock() {
            Ok(mut out) => ipc::write_frame_sync(&mut *out, message, body),
            Err(_) => Err(std::io::Error::other("poisoned")),
        };
        if result.is_err() {
            // The supervisor is gone: nothing left to do.
            std::process::exit(EXIT_CHANNEL_LOST);
        }
    }
}

/// A run as the IPC reader hands it to the run loop.
type RunMessage = (u64, Box<RawValue>, RunSettings, Vec<u8>);

fn child_loop(job: &(dyn ChildJob + Sync)) -> std::io::Result<()> {
    let (shared, runs_rx) = open_channel(job)?;
    sys::keep_freed_memory();
    let base_vm = sys::status_bytes(None, "VmSize").unwrap_or(0);
    // Runs execute on a thread whose stack is known, not the main thread's (its size is the
    // environment's `ulimit -s`): QuickJS's stack limit and deep states need the room.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("engine-run".into())
            .stack_size(RUN_STACK_BYTES)
            .spawn_scoped(scope, || {
                for message in runs_rx {
                    run_one(job, &shared, base_vm, message);
                }
            })
            .map(|_| ())
    })
}

/// The forked run process of a template: the same channel as a pooled child, exactly one run,
/// executed on this (the template's main) thread, then `_exit` once its last frame is written
/// (every frame is flushed as it is sent): nothing of the runtime is torn down, the kernel
/// frees the process. Never returns.
pub fn run_forked(job: &dyn ChildJob) -> ! {
    let code = match open_channel(job) {
        Ok((shared, runs_rx)) => {
            let base_vm = sys::status_bytes(None, "VmSize").unwrap_or(0);
            match runs_rx.recv() {
                Ok(message) => {
                    run_one(job, &shared, base_vm, message);
                    0
                }
                Err(_) => 0,
            }
        }
        Err(e) => {
            eprintln!("openfn-engine run: {e}");
            EXIT_CHANNEL_LOST
        }
    };
    sys::exit_now(code)
}

/// Takes the IPC channel over fds 0/1, says ready, and starts the thread that reads the
/// supervisor's messages; runs arrive on the returned receiver.
fn open_channel(job: &dyn ChildJob) -> std::io::Result<(Arc<Shared>, mpsc::Receiver<RunMessage>)> {
    let (input, output) = sys::take_stdio()?;
    if let Err(e) = sys::prefer_oom_kill() {
        eprintln!("openfn-engine child: cannot set oom_score_adj: {e}");
    }
    let shared = Arc::new(Shared {
        out: Mutex::new(BufWriter::with_capacity(64 * 1024, output)),
        pending: Mutex::new(HashMap::new()),
        next_req: AtomicU64::new(1),
        current_run: AtomicU64::new(0),
        interrupt: Mutex::new(Arc::new(AtomicBool::new(false))),
    });
    let mut versions = job.versions();
    versions.insert("engine".into(), env!("CARGO_PKG_VERSION").into());
    shared.send(
        &ToParent::Ready {
            pid: std::process::id(),
            versions,
        },
        b"",
    );

    let (runs_tx, runs_rx) = mpsc::channel::<RunMessage>();
    let reader_shared = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("engine-ipc".into())
        .spawn(move || read_loop(input, &reader_shared, &runs_tx))?;
    Ok((shared, runs_rx))
}

/// Reads the supervisor's messages until the channel closes (then exits the process).
fn read_loop(input: File, shared: &Shared, runs_tx: &mpsc::Sender<RunMessage>) {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    loop {
        let frame = match ipc::read_frame_sync(&mut input) {
            Ok(Some(frame)) => frame,
            // The supervisor closed the channel (shutdown or death): stop at once.
            Ok(None) => std::process::exit(0),
            Err(_) => std::process::exit(EXIT_CHANNEL_LOST),
        };
        let Ok(message) = frame.message::<ToChild>() else {
            std::process::exit(EXIT_CHANNEL_LOST);
        };
        match message {
            ToChild::Run {
                run,
                plan,
                settings,
            } => {
                if runs_tx.send((run, plan, settings, frame.body)).is_err() {
                    std::process::exit(0);
                }
            }
            ToChild::Interrupt { run } => {
                if shared.current_run.load(Ordering::SeqCst) == run
                    && let Ok(flag) = shared.interrupt.lock()
                {
                    flag.store(true, Ordering::SeqCst);
                }
            }
            ToChild::Reply { req, error } => {
                let waiter = shared.pending.lock().ok().and_then(|mut p| p.remove(&req));
                if let Some(waiter) = waiter {
                    let reply = match error {
                        Some(e) => Err(e),
                        None => String::from_utf8(frame.body).map_err(|e| e.to_string()),
                    };
                    let _ = waiter.send(reply);
                }
            }
        }
    }
}

/// Executes one run under its memory backstop and reports `Finished`.
fn run_one(job: &dyn ChildJob, shared: &Arc<Shared>, base_vm: u64, message: RunMessage) {
    let (run, plan, settings, input) = message;
    if job.os_memory_backstop() {
        apply_memory_backstop(base_vm, settings.memory_limit_mb);
    }
    let interrupt = Arc::new(AtomicBool::new(false));
    if let Ok(mut slot) = shared.interrupt.lock() {
        *slot = Arc::clone(&interrupt);
    }
    shared.current_run.store(run, Ordering::SeqCst);
    let recycle = execute(job, shared, run, plan, settings, input, interrupt);
    shared.send(&ToParent::Finished { run, recycle }, b"");
    // what the run freed goes back to the OS (`keep_freed_memory` held it during the run)
    sys::trim_heap();
}

/// Stack of the thread that runs workflows: QuickJS's own limit
/// ([`js::QUICKJS_STACK_BYTES`]) plus ample room for the Rust frames below and above it.
const RUN_STACK_BYTES: usize = 64 * 1024 * 1024;

/// The OS backstop behind the JS heap limit: an address-space cap at a multiple of the run's
/// limit above what the idle child already maps. Past it allocations fail and the child dies;
/// the supervisor reports `OOMError`.
fn apply_memory_backstop(base_vm: u64, memory_limit_mb: u64) {
    let limit = base_vm + memory_limit_mb.saturating_mul(3 << 20) + (512 << 20);
    if let Err(e) = sys::set_address_space_limit(limit) {
        eprintln!("openfn-engine child: cannot set RLIMIT_AS: {e}");
    }
}

fn execute(
    job: &dyn ChildJob,
    shared: &Arc<Shared>,
    run: u64,
    plan: Box<RawValue>,
    settings: RunSettings,
    input: Vec<u8>,
    interrupt: Arc<AtomicBool>,
) -> bool {
    let started = Instant::now();
    let sink = Arc::new(Sink {
        shared: Arc::clone(shared),
        run,
        settings: settings.clone(),
    });
    sink.event(ChildEvent::WorkflowStart, b"");
    let input = if input.is_empty() {
        None
    } else {
        match String::from_utf8(input)
            .map_err(|e| e.to_string())
            .and_then(|s| RawValue::from_string(s).map_err(|e| e.to_string()))
        {
            Ok(raw) => Some(raw),
            Err(e) => {
                let error = ErrorInfo::new(
                    "ExecutionError",
                    format!("invalid input state: {e}"),
                    Severity::Exception,
                );
                sink.event(ChildEvent::WorkflowError { error }, b"");
                return false;
            }
        }
    };
    let request = JobRequest {
        plan,
        input,
        settings,
        interrupt,
    };
    match job.run(request, Arc::clone(&sink) as Arc<dyn JobSink>) {
        Ok(state) => {
            let (state, redacted) = sink.limit_state(state);
            let duration = started.elapsed().as_millis() as u64;
            sink.event(
                ChildEvent::WorkflowComplete { duration, redacted },
                state.as_bytes(),
            );
            false
        }
        Err(failure) => {
            sink.event(
                ChildEvent::WorkflowError {
                    error: failure.error,
                },
                b"",
            );
            failure.recycle
        }
    }
}

struct Sink {
    shared: Arc<Shared>,
    run: u64,
    settings: RunSettings,
}

/// The message that replaces a log line over the log payload limit.
pub const REDACTED_LOG: &str = r#"["[REDACTED: Message length exceeds payload limit]"]"#;

impl Sink {
    fn event(&self, event: ChildEvent, body: &[u8]) {
        self.shared.send(
            &ToParent::Event {
                run: self.run,
                time: now_ns(),
                event,
            },
            body,
        );
    }

    /// Applies the payload limit to an outgoing state: over it, `data` becomes `"[REDACTED]"`.
    fn limit_state(&self, state: String) -> (String, bool) {
        if (state.len() as u64) <= self.settings.payload_limit_bytes {
            return (state, false);
        }
        // On the text: the state may nest deeper than a `Value` can be parsed.
        let redacted = r#""[REDACTED]""#;
        let text = match deep_json::object_entries(&state) {
            Ok(Some(entries)) => {
                let mut members: Vec<(&str, &str)> =
                    entries.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
                match members.iter_mut().find(|(k, _)| *k == "data") {
                    Some(slot) => slot.1 = redacted,
                    None => members.push(("data", redacted)),
                }
                deep_json::object_text(members)
            }
            Ok(None) | Err(_) => format!(r#"{{"data":{redacted}}}"#),
        };
        (text, true)
    }

    fn request(&self, kind: ResolveKind, id: &str) -> Result<String, String> {
        let req = self.shared.next_req.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = mpsc::channel();
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.insert(req, tx);
        }
        self.shared.send(
            &ToParent::Request {
                run: self.run,
                req,
                kind,
                id: id.to_owned(),
            },
            b"",
        );
        rx.recv()
            .unwrap_or_else(|_| Err("engine channel closed".to_owned()))
    }
}

impl JobSink for Sink {
    fn compile_start(&self) {
        self.event(ChildEvent::CompileStart, b"");
    }

    fn compile_complete(&self, duration: u64) {
        self.event(ChildEvent::CompileComplete { duration }, b"");
    }

    fn job_start(&self, job_id: &str) {
        self.event(
            ChildEvent::JobStart {
                job_id: job_id.to_owned(),
            },
            b"",
        );
    }

    fn job_complete(
        &self,
        job_id: &str,
        duration: u64,
        next: Vec<String>,
        mut mem: Mem,
        state_json: String,
        fuel: Option<u64>,
    ) {
        if mem.system == 0 {
            mem.system = sys::rss_bytes(None).unwrap_or(0);
        }
        let (state, redacted) = self.limit_state(state_json);
        let event = ChildEvent::JobComplete {
            job_id: job_id.to_owned(),
            duration,
            next,
            mem,
            redacted,
            fuel,
        };
        self.event(event, state.as_bytes());
    }

    fn job_error(
        &self,
        job_id: &str,
        duration: u64,
        next: Vec<String>,
        error: ErrorInfo,
        state_json: String,
        fuel: Option<u64>,
    ) {
        let (state, redacted) = self.limit_state(state_json);
        let event = ChildEvent::JobError {
            job_id: job_id.to_owned(),
            duration,
            next,
            error,
            redacted,
            fuel,
        };
        self.event(event, state.as_bytes());
    }

    fn log(&self, level: &str, name: &str, message_json: String) {
        let policy = self.settings.sanitize.unwrap_or_default();
        let Some(message_json) = sanitize::sanitize(message_json, policy) else {
            return;
        };
        let redacted = (message_json.len() as u64) > self.settings.log_payload_limit_bytes;
        let body = if redacted {
            REDACTED_LOG.as_bytes()
        } else {
            message_json.as_bytes()
        };
        self.event(
            ChildEvent::Log {
                level: level.to_owned(),
                name: name.to_owned(),
                redacted,
            },
            body,
        );
    }

    fn credential(&self, id: &str) -> Result<String, String> {
        self.request(ResolveKind::Credential, id)
    }

    fn state(&self, id: &str) -> Result<String, String> {
        self.request(ResolveKind::State, id)
    }
}

/// Writes a line to the child's stderr (which the supervisor captures for diagnostics).
pub fn diagnostic(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}
