//! Engine and runtime events (execution.md §3.5 and §2.8): what the engine reports about a run
//! while it executes, for the worker (and CLI) to turn into Lightning events and logs.
//!
//! On the wire (between processes, in tests, in snapshots) an event is adjacently tagged:
//! `{"event": "job-start", "payload": {"workflowId": …, "jobId": …, …}}`. Payload keys are
//! camelCase as in the kit. Times are nanosecond strings (the kit uses bigints).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Severity;
use crate::failure::{Result, decode_str, decode_value};
use crate::log::{Level, LogLine};

/// Memory use of a job, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mem {
    /// Heap used by the job.
    pub job: u64,
    /// Resident size of the process.
    pub system: u64,
    /// Peak, when profiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
}

/// An event of one run, emitted by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "payload", rename_all = "kebab-case")]
pub enum EngineEvent {
    /// The workflow started (after install, credential load and compilation): `run:start`.
    WorkflowStart(WorkflowStart),
    /// Compilation started.
    CompileStart(Compile),
    /// Compilation finished.
    CompileComplete(Compile),
    /// A job started: `step:start`.
    JobStart(JobStart),
    /// A job finished: `step:complete`.
    JobComplete(JobComplete),
    /// A job ended with an error: `step:complete` with its reason.
    JobError(JobError),
    /// A log line: `run:log` / `run:batch_logs`.
    WorkflowLog(WorkflowLog),
    /// The workflow finished: `run:complete` (normal shape).
    WorkflowComplete(WorkflowComplete),
    /// The run failed as a whole: `run:complete` (error shape).
    WorkflowError(WorkflowError),
    /// An adaptor was installed.
    AutoinstallComplete(Autoinstall),
    /// An adaptor failed to install.
    AutoinstallError(Autoinstall),
}

impl EngineEvent {
    /// The event name (`workflow-start`, `job-complete`…).
    pub fn name(&self) -> &'static str {
        match self {
            Self::WorkflowStart(_) => "workflow-start",
            Self::CompileStart(_) => "compile-start",
            Self::CompileComplete(_) => "compile-complete",
            Self::JobStart(_) => "job-start",
            Self::JobComplete(_) => "job-complete",
            Self::JobError(_) => "job-error",
            Self::WorkflowLog(_) => "workflow-log",
            Self::WorkflowComplete(_) => "workflow-complete",
            Self::WorkflowError(_) => "workflow-error",
            Self::AutoinstallComplete(_) => "autoinstall-complete",
            Self::AutoinstallError(_) => "autoinstall-error",
        }
    }

    /// The run (plan) id the event belongs to.
    pub fn workflow_id(&self) -> &str {
        match self {
            Self::WorkflowStart(e) => &e.workflow_id,
            Self::CompileStart(e) | Self::CompileComplete(e) => &e.workflow_id,
            Self::JobStart(e) => &e.workflow_id,
            Self::JobComplete(e) => &e.workflow_id,
            Self::JobError(e) => &e.workflow_id,
            Self::WorkflowLog(e) => &e.workflow_id,
            Self::WorkflowComplete(e) => &e.workflow_id,
            Self::WorkflowError(e) => &e.workflow_id,
            Self::AutoinstallComplete(e) | Self::AutoinstallError(e) => &e.workflow_id,
        }
    }

    /// Whether this event ends the run (`workflow-complete` or `workflow-error`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::WorkflowComplete(_) | Self::WorkflowError(_))
    }

    /// Parses `{"event", "payload"}` JSON text.
    ///
    /// # Errors
    /// [`crate::Error::Json`] / [`crate::Error::Decode`] naming the field; an unknown event
    /// name is a decode error at `event`.
    pub fn from_json_str(text: &str) -> Result<Self> {
        decode_str("engine event", text)
    }

    /// Parses a `{"event", "payload"}` JSON value.
    ///
    /// # Errors
    /// As [`EngineEvent::from_json_str`].
    pub fn from_value(value: Value) -> Result<Self> {
        decode_value("engine event", value)
    }
}

/// `workflow-start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStart {
    /// Run id.
    pub workflow_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// `node`, `engine`, `compiler`, `runtime`, and adaptor name → `[versions]`.
    #[serde(default)]
    pub versions: Map<String, Value>,
    /// ns string.
    pub time: String,
}

/// `compile-start` / `compile-complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compile {
    /// Run id.
    pub workflow_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// ms (on complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
}

/// `job-start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStart {
    /// Run id.
    pub workflow_id: String,
    /// Step id.
    pub job_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// ns string.
    pub time: String,
}

/// `job-complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobComplete {
    /// Run id.
    pub workflow_id: String,
    /// Step id.
    pub job_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// Output state (with `data: "[REDACTED]"` when redacted).
    pub state: Value,
    /// ms since the step's init started.
    pub duration: u64,
    /// Ids of the steps that will run next.
    #[serde(default)]
    pub next: Vec<String>,
    /// Memory use.
    pub mem: Mem,
    /// The state was over the payload limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<bool>,
    /// ns string.
    pub time: String,
}

/// The error of a `job-error`, as the engine serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobErrorInfo {
    /// Class name.
    pub name: String,
    /// Message.
    pub message: String,
    /// Error type, when it differs from the name (e.g. `CompileError`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// JS subtype (`TypeError`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Severity; `crash` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Other keys, kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl JobErrorInfo {
    /// The `error_type` the worker reports: `subtype`, else `type`, else `name`.
    pub fn error_type(&self) -> &str {
        self.subtype
            .as_deref()
            .or(self.kind.as_deref())
            .unwrap_or(&self.name)
    }

    /// The severity, `crash` when absent (the worker's default).
    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or(Severity::Crash)
    }
}

/// `job-error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobError {
    /// Run id.
    pub workflow_id: String,
    /// Step id.
    pub job_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// The state at the error (with `errors[jobId]` for `fail`).
    pub state: Value,
    /// The error.
    pub error: JobErrorInfo,
    /// ms.
    pub duration: u64,
    /// Ids of the steps that will run next.
    #[serde(default)]
    pub next: Vec<String>,
    /// ns string.
    pub time: String,
}

/// A log message as the engine carries it: the JSON text of the message array (what the
/// thread publishes) or the array itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LogMessage {
    /// JSON text of an array.
    Text(String),
    /// The array.
    Values(Vec<Value>),
}

impl LogMessage {
    /// The message as an array: text is parsed back (the worker does this); text that is not a
    /// JSON array becomes a one-element array holding the text.
    pub fn to_values(&self) -> Vec<Value> {
        match self {
            Self::Values(values) => values.clone(),
            Self::Text(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(values)) => values,
                _ => vec![Value::String(text.clone())],
            },
        }
    }
}

/// `workflow-log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowLog {
    /// Run id.
    pub workflow_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// Level.
    pub level: Level,
    /// Logger name: `R/T`, `JOB`, `ADA`, `RTE`.
    pub name: String,
    /// The message.
    pub message: LogMessage,
    /// ns string.
    pub time: String,
    /// Over the log payload limit: the worker replaces the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<bool>,
}

impl WorkflowLog {
    /// The log line this event carries.
    pub fn line(&self) -> LogLine {
        LogLine {
            level: self.level,
            name: self.name.clone(),
            message: self.message.to_values(),
            time: self.time.clone(),
        }
    }
}

/// `workflow-complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowComplete {
    /// Run id.
    pub workflow_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// ms.
    pub duration: u64,
    /// The final result (single leaf state or `{leafId: state}`).
    pub state: Value,
    /// ns string.
    pub time: String,
}

fn exception() -> Severity {
    Severity::Exception
}

/// `workflow-error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowError {
    /// Run id.
    pub workflow_id: String,
    /// Engine thread id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<u64>,
    /// Error type (`error.type || name || "ERROR"`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Message.
    pub message: String,
    /// Severity (default `exception`).
    #[serde(default = "exception")]
    pub severity: Severity,
}

/// `autoinstall-complete` / `autoinstall-error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Autoinstall {
    /// Run id.
    pub workflow_id: String,
    /// Module name.
    pub module: String,
    /// Version.
    pub version: String,
    /// ms.
    pub duration: u64,
    /// Error message (on error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The runtime's notifications (`callbacks.notify(name, payload)`, execution.md §2.8), which the
/// engine republishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "payload",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum RuntimeEvent {
    /// A step began initialising.
    InitStart {
        /// Step id.
        job_id: String,
    },
    /// A step's configuration and state were resolved.
    InitComplete {
        /// Step id.
        job_id: String,
        /// ms.
        duration: u64,
    },
    /// A step's expression started.
    JobStart {
        /// Step id.
        job_id: String,
    },
    /// A step finished.
    JobComplete {
        /// Step id.
        job_id: String,
        /// ms since init started.
        duration: u64,
        /// Output state.
        state: Value,
        /// Steps that will run next.
        next: Vec<String>,
        /// Memory use.
        mem: Mem,
    },
    /// A step failed.
    JobError {
        /// Step id.
        job_id: String,
        /// ms.
        duration: u64,
        /// The error.
        error: JobErrorInfo,
        /// State at the error.
        state: Value,
        /// Steps that will run next.
        next: Vec<String>,
    },
    /// A state given by id was loaded.
    LoadState {
        /// The state (dataclip) id.
        job_id: String,
        /// ms.
        duration: u64,
    },
}
