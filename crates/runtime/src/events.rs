//! What the runtime tells its caller: step events (execution.md §2.8), log lines in the
//! logger's JSON format (§5), and the `Callbacks` trait through which it asks for credentials
//! and dataclips.

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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

    /// Serialise a value.
    pub fn from_value(value: &Value) -> Self {
        StateJson(value.to_string().into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parse into a value.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

/// Memory figures of a `job-complete` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// JS heap in use by the run's QuickJS runtime (bytes).
    pub job: u64,
    /// Resident set size of the process (bytes).
    pub system: u64,
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
            s.as_ref().and_then(|s| s.to_value().ok()).unwrap_or(Value::Null)
        }
        match self {
            Event::InitStart { job_id } | Event::JobStart { job_id } => {
                serde_json::json!({ "jobId": job_id })
            }
            Event::InitComplete { job_id, duration } | Event::LoadState { job_id, duration } => {
                serde_json::json!({ "jobId": job_id, "duration": duration })
            }
            Event::JobComplete { job_id, duration, state: s, next, mem } => serde_json::json!({
                "jobId": job_id, "duration": duration, "state": state(s), "next": next,
                "mem": { "job": mem.job, "system": mem.system },
            }),
            Event::JobError { job_id, duration, error, state: s, next } => serde_json::json!({
                "jobId": job_id, "duration": duration, "error": error.to_value(),
                "state": state(s), "next": next,
            }),
        }
    }
}

/// Log levels of the kit logger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug` (priority 0).
    Debug,
    /// `info` / `log` (priority 1).
    Info,
    /// `success` (priority 2).
    Success,
    /// `always` (priority 2).
    Always,
    /// `warn` (priority 2).
    Warn,
    /// `error` (priority 100).
    Error,
}

impl LogLevel {
    /// The JSON `level` value.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Success => "success",
            LogLevel::Always => "always",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }

    /// Parse a console method / level name.
    pub fn parse(s: &str) -> LogLevel {
        match s {
            "debug" | "trace" => LogLevel::Debug,
            "success" => LogLevel::Success,
            "always" => LogLevel::Always,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }

    /// Logger priority (debug 0, info 1, warn/success/always 2, error 100).
    pub fn priority(self) -> u32 {
        match self {
            LogLevel::Debug => 0,
            LogLevel::Info => 1,
            LogLevel::Success | LogLevel::Always | LogLevel::Warn => 2,
            LogLevel::Error => 100,
        }
    }
}

/// One logger line: `{ level, name, message: [...], time }`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Level.
    pub level: LogLevel,
    /// Namespace: `R/T` (runtime), `JOB` (job console), `ADA` (adaptor console).
    pub name: &'static str,
    /// The arguments, sanitised.
    pub message: Vec<Value>,
    /// Nanoseconds since the epoch, as a decimal string.
    pub time: String,
}

impl LogLine {
    /// A line stamped now.
    pub fn new(level: LogLevel, name: &'static str, message: Vec<Value>) -> Self {
        LogLine { level, name, message, time: now_nanos() }
    }

    /// The JSON line (`{"level":…,"name":…,"message":[…],"time":"…"}`).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "level": self.level.as_str(),
            "name": self.name,
            "message": self.message,
            "time": self.time,
        })
        .to_string()
    }

    /// The message joined as text (strings bare, other values as JSON).
    pub fn text(&self) -> String {
        self.message
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Nanoseconds since the epoch as a string (the logger's `time`).
pub fn now_nanos() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    d.as_nanos().to_string()
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
