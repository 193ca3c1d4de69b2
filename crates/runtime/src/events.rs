//! What the runtime tells its caller: step events (docs/execution.md §2.8), log lines in the
//! logger's JSON format (§5), and the `Callbacks` trait through which it asks for credentials
//! and dataclips.

use std::future::Future;
use std::sync::Arc;

use openfn_lexicon::log::{Level, LogLine};
use serde_json::Value;

use crate::error::RtError;

/// A state as JSON text. Cheap to clone; parse with [`StateJson::to_value`] only when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateJson(Arc<str>);

impl StateJson {
    /// Wrap JSON text (not checked).
    pub fn from_text(text: impl Into<Arc<str>>) -> Self {
        StateJson(text.into())
    }

    /// Serialise a value (of any depth).
    pub fn from_value(value: &Value) -> Self {
        StateJson(crate::deep_json::to_string(value).into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parse into a value (of any depth: see [`crate::deep_json`]).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        crate::deep_json::parse(&self.0)
    }
}

/// Memory figures of a `job-complete` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Heap in use (bytes): the process allocator's bytes in use where it reports them (glibc),
    /// else the run's QuickJS heap.
    pub job: u64,
    /// Resident set size of the process (bytes).
    pub system: u64,
    /// Peak resident set size of the process during the step (bytes), when profiling and where
    /// the OS reports it (Linux: `VmHWM`, reset when the step starts; the process's high-water
    /// mark if the reset is refused).
    pub peak: Option<u64>,
}

/// A runtime event (`callbacks.notify(name, payload)` in the kit).
#[derive(Debug, Clone)]
pub enum Event {
    /// `init-start`.
    InitStart {
        /// Step id.
        job_id: String,
    },
    /// `init-complete`.
    InitComplete {
        /// Step id.
        job_id: String,
        /// Ms since init start.
        duration: u64,
    },
    /// `job-start`.
    JobStart {
        /// Step id.
        job_id: String,
    },
    /// `job-complete`.
    JobComplete {
        /// Step id.
        job_id: String,
        /// Ms since init start.
        duration: u64,
        /// Final state of the step (`None` = undefined).
        state: Option<StateJson>,
        /// Steps that will run next.
        next: Vec<String>,
        /// Memory figures.
        mem: MemoryUse,
    },
    /// `job-error`.
    JobError {
        /// Step id.
        job_id: String,
        /// Ms since job start.
        duration: u64,
        /// The classified, source-mapped error.
        error: RtError,
        /// State at the time of the error.
        state: Option<StateJson>,
        /// Steps that will run next.
        next: Vec<String>,
    },
    /// `load-state`.
    LoadState {
        /// The dataclip id.
        job_id: String,
        /// Ms the resolution took.
        duration: u64,
    },
}

impl Event {
    /// The kit's event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::InitStart { .. } => "init-start",
            Event::InitComplete { .. } => "init-complete",
            Event::JobStart { .. } => "job-start",
            Event::JobComplete { .. } => "job-complete",
            Event::JobError { .. } => "job-error",
            Event::LoadState { .. } => "load-state",
        }
    }

    /// The payload as JSON (parses the state).
    pub fn payload(&self) -> Value {
        fn state(s: &Option<StateJson>) -> Value {
            s.as_ref()
                .and_then(|s| s.to_value().ok())
                .unwrap_or(Value::Null)
        }
        match self {
            Event::InitStart { job_id } | Event::JobStart { job_id } => {
                serde_json::json!({ "jobId": job_id })
            }
            Event::InitComplete { job_id, duration } | Event::LoadState { job_id, duration } => {
                serde_json::json!({ "jobId": job_id, "duration": duration })
            }
            Event::JobComplete {
                job_id,
                duration,
                state: s,
                next,
                mem,
            } => {
                let mut m = serde_json::json!({ "job": mem.job, "system": mem.system });
                if let Some(peak) = mem.peak {
                    m["peak"] = peak.into();
                }
                serde_json::json!({
                    "jobId": job_id, "duration": duration, "state": state(s), "next": next,
                    "mem": m,
                })
            }
            Event::JobError {
                job_id,
                duration,
                error,
                state: s,
                next,
            } => serde_json::json!({
                "jobId": job_id, "duration": duration, "error": error.to_value(),
                "state": state(s), "next": next,
            }),
        }
    }
}

/// The logger level named by a console method (`log` and unknown names are `info`).
pub fn parse_level(s: &str) -> Level {
    match s {
        "debug" | "trace" => Level::Debug,
        "success" => Level::Success,
        "always" => Level::Always,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    }
}

/// A log line's message joined as text (strings bare, other values as JSON).
pub fn line_text(line: &LogLine) -> String {
    line.message
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the runtime reaches its caller. Every method has a default, so implement what you need.
pub trait Callbacks {
    /// A step event; awaited before the run goes on.
    fn notify(&self, event: Event) -> impl Future<Output = ()> {
        let _ = event;
        async {}
    }

    /// A log line (runtime `R/T`, job `JOB`, adaptor `ADA`).
    fn log(&self, line: LogLine) {
        let _ = line;
    }

    /// Resolve a credential id (a step's string `configuration`).
    fn resolve_credential(&self, id: &str) -> impl Future<Output = Result<Value, String>> {
        let id = id.to_string();
        async move { Err(format!("no credential resolver for {id}")) }
    }

    /// Resolve a dataclip id (a step's string `state`, or a string input).
    fn resolve_state(&self, id: &str) -> impl Future<Output = Result<Value, String>> {
        let id = id.to_string();
        async move { Err(format!("no state resolver for {id}")) }
    }
}

/// Callbacks that ignore everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCallbacks;

impl Callbacks for NoCallbacks {}
