//! Engine events: what a run reports to the worker or the CLI, with the kit's payloads
//! (docs/execution.md §3.5), and the error classes the engine itself produces (docs/protocol.md §4.3).
//!
//! States and log messages are carried as raw JSON ([`RawValue`]) exactly as the child
//! serialised them: the supervisor forwards them without building a JSON tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use openfn_lexicon::error::ErrorClass;
pub use openfn_lexicon::error::Severity;

/// A serialised error: `{type, name?, subtype?, message, severity}` (the worker uses
/// `subtype || type || name` as `error_type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Error class, e.g. `TimeoutError`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// Original class name, when it differs from `type` (e.g. a compiler's `SyntaxError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Subtype of runtime errors (`TypeError` for a `RuntimeError`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Human message.
    pub message: String,
    /// Severity.
    pub severity: Severity,
}

impl ErrorInfo {
    /// A new error of `class`, with the class's severity.
    pub fn of(class: &ErrorClass, message: impl Into<String>) -> Self {
        Self::new(class.error_type(), message, class.severity())
    }

    /// A new error of `error_type` with `message` and `severity`.
    pub fn new(error_type: &str, message: impl Into<String>, severity: Severity) -> Self {
        Self {
            error_type: error_type.to_owned(),
            name: None,
            subtype: None,
            message: message.into(),
            severity,
        }
    }

    /// The `error_type` the worker reports (`subtype || type || name`).
    pub fn reported_type(&self) -> &str {
        self.subtype.as_deref().unwrap_or(&self.error_type)
    }
}

/// The run-level errors the engine produces itself, in one place (docs/protocol.md §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineFailure {
    /// The run did not finish within its timeout.
    Timeout {
        /// The timeout, in ms.
        ms: u64,
    },
    /// The child ran out of memory.
    OutOfMemory,
    /// The child process died.
    Exit {
        /// Exit code, or 128 + signal number.
        code: i32,
    },
    /// An adaptor could not be installed.
    Autoinstall {
        /// The specifier (`name@version`).
        specifier: String,
        /// The installer's error.
        message: String,
    },
    /// Credentials could not be loaded: `(id, error)` pairs, de-duplicated by id.
    CredentialLoad(Vec<(String, String)>),
    /// The input dataclip could not be loaded.
    DataClip {
        /// Dataclip id.
        id: String,
        /// The resolver's error.
        message: String,
    },
    /// Anything else that went wrong in the engine.
    Execution(String),
}

impl EngineFailure {
    /// The serialised error, with the exact class, message and severity of the kit.
    pub fn to_error(&self) -> ErrorInfo {
        let (class, message) = match self {
            EngineFailure::Timeout { ms } => (
                ErrorClass::TimeoutError,
                format!("Workflow failed to return within {ms}ms"),
            ),
            EngineFailure::OutOfMemory => (
                ErrorClass::OomError,
                "Run exceeded maximum memory usage".to_owned(),
            ),
            EngineFailure::Exit { code } => (
                ErrorClass::ExitError,
                format!("Process exited with code: {code}"),
            ),
            EngineFailure::Autoinstall { specifier, message } => (
                ErrorClass::AutoinstallError,
                format!("Error installing {specifier}: {message}"),
            ),
            EngineFailure::CredentialLoad(failures) => {
                let mut seen = std::collections::BTreeSet::new();
                let lines: Vec<String> = failures
                    .iter()
                    .filter(|(id, _)| seen.insert(id.clone()))
                    .map(|(id, err)| format!("Failed to load credential {id}: {err}"))
                    .collect();
                (ErrorClass::CredentialLoadError, lines.join("\n"))
            }
            EngineFailure::DataClip { id, message } => (
                ErrorClass::DataClipError,
                format!("Failed to load dataclip {id}: {message}"),
            ),
            EngineFailure::Execution(message) => (ErrorClass::ExecutionError, message.clone()),
        };
        ErrorInfo::of(&class, message)
    }
}

/// Memory figures of a completed step, in bytes: the `mem` of `step:complete` (the child's
/// heap in use and RSS; `peak` only when the engine profiles, [`crate::EngineConfig::profile`]).
pub use openfn_lexicon::lightning::Mem;

/// One log line of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// `debug`, `info`, `warn`, `error`, `success`, `always`.
    pub level: String,
    /// Logger name: `R/T`, `JOB`, `ADA` or `RTE`.
    pub name: String,
    /// The JSON array of message parts (the kit sends this array as a JSON string).
    pub message: Box<RawValue>,
    /// Nanoseconds since the Unix epoch, as a decimal string.
    pub time: String,
    /// The message was replaced because it was over the log payload limit.
    pub redacted: bool,
}

/// An event of one run. Every event names its run (`workflow_id`, the plan id); events from
/// the child also carry `thread_id` (the child's pid) and `time` (ns since the Unix epoch).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EngineEvent {
    /// An adaptor is not in the repository and is being installed (an `autoinstall-complete`
    /// or `autoinstall-error` follows with the duration). Not a kit event: embedders use it to
    /// say that a run waits for an install.
    #[serde(rename_all = "camelCase")]
    AutoinstallStart {
        /// Run id.
        workflow_id: String,
        /// Package name.
        module: String,
        /// Version asked for (may be empty or a tag).
        version: String,
    },
    /// An adaptor was installed (or found installed).
    #[serde(rename_all = "camelCase")]
    AutoinstallComplete {
        /// Run id.
        workflow_id: String,
        /// Package name.
        module: String,
        /// Version.
        version: String,
        /// Milliseconds.
        duration: u64,
    },
    /// An adaptor failed to install (a `workflow-error` follows).
    #[serde(rename_all = "camelCase")]
    AutoinstallError {
        /// Run id.
        workflow_id: String,
        /// Package name.
        module: String,
        /// Version.
        version: String,
        /// Milliseconds.
        duration: u64,
        /// The installer's error.
        message: String,
    },
    /// The workflow started in a child.
    #[serde(rename_all = "camelCase")]
    WorkflowStart {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// `engine`, `compiler`, `runtime`, … plus one key per adaptor mapping to its versions.
        versions: BTreeMap<String, serde_json::Value>,
        /// ns since epoch.
        time: u64,
    },
    /// Compilation started.
    #[serde(rename_all = "camelCase")]
    CompileStart {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
    },
    /// Every step compiled.
    #[serde(rename_all = "camelCase")]
    CompileComplete {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// Milliseconds.
        duration: u64,
    },
    /// A step started.
    #[serde(rename_all = "camelCase")]
    JobStart {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// Step id.
        job_id: String,
        /// ns since epoch.
        time: u64,
    },
    /// A step completed.
    #[serde(rename_all = "camelCase")]
    JobComplete {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// Step id.
        job_id: String,
        /// Output state (with `data: "[REDACTED]"` when `redacted`).
        state: Box<RawValue>,
        /// Milliseconds.
        duration: u64,
        /// Downstream step ids.
        next: Vec<String>,
        /// Memory figures.
        mem: Mem,
        /// The output was over the payload limit (the worker sends `DATACLIP_TOO_LARGE`).
        redacted: bool,
        /// Fuel the step used on the wasm tier (`None` on the native tier). Not a kit field:
        /// the worker counts it in its metrics and does not send it to Lightning.
        #[serde(skip_serializing_if = "Option::is_none")]
        fuel: Option<u64>,
        /// ns since epoch.
        time: u64,
    },
    /// A step failed.
    #[serde(rename_all = "camelCase")]
    JobError {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// Step id.
        job_id: String,
        /// Output state.
        state: Box<RawValue>,
        /// The error.
        error: ErrorInfo,
        /// Milliseconds.
        duration: u64,
        /// Downstream step ids.
        next: Vec<String>,
        /// The output was over the payload limit.
        redacted: bool,
        /// Fuel the step used on the wasm tier (`None` on the native tier).
        #[serde(skip_serializing_if = "Option::is_none")]
        fuel: Option<u64>,
        /// ns since epoch.
        time: u64,
    },
    /// A log line (`RTE` lines come from the supervisor and have no thread).
    #[serde(rename_all = "camelCase")]
    WorkflowLog {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: Option<u32>,
        /// The line.
        #[serde(flatten)]
        log: LogLine,
    },
    /// The workflow completed (it may have failed steps).
    #[serde(rename_all = "camelCase")]
    WorkflowComplete {
        /// Run id.
        workflow_id: String,
        /// Child pid.
        thread_id: u32,
        /// Milliseconds.
        duration: u64,
        /// The final state (`data` is `"[REDACTED]"` when `redacted`).
        state: Box<RawValue>,
        /// The final state was over the payload limit.
        redacted: bool,
        /// ns since epoch.
        time: u64,
    },
    /// The run ended with an error (no `workflow-complete` follows).
    #[serde(rename_all = "camelCase")]
    WorkflowError {
        /// Run id.
        workflow_id: String,
        /// Child pid, when a child was involved.
        thread_id: Option<u32>,
        /// The error.
        #[serde(flatten)]
        error: ErrorInfo,
    },
}

impl EngineEvent {
    /// The kit's event name (`workflow-start`, `job-complete`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EngineEvent::AutoinstallStart { .. } => "autoinstall-start",
            EngineEvent::AutoinstallComplete { .. } => "autoinstall-complete",
            EngineEvent::AutoinstallError { .. } => "autoinstall-error",
            EngineEvent::WorkflowStart { .. } => "workflow-start",
            EngineEvent::CompileStart { .. } => "compile-start",
            EngineEvent::CompileComplete { .. } => "compile-complete",
            EngineEvent::JobStart { .. } => "job-start",
            EngineEvent::JobComplete { .. } => "job-complete",
            EngineEvent::JobError { .. } => "job-error",
            EngineEvent::WorkflowLog { .. } => "workflow-log",
            EngineEvent::WorkflowComplete { .. } => "workflow-complete",
            EngineEvent::WorkflowError { .. } => "workflow-error",
        }
    }

    /// Whether this event ends the run (`workflow-complete` or `workflow-error`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EngineEvent::WorkflowComplete { .. } | EngineEvent::WorkflowError { .. }
        )
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_failures_have_the_kit_strings() {
        let e = EngineFailure::Timeout { ms: 1500 }.to_error();
        assert_eq!(
            (e.error_type.as_str(), e.message.as_str()),
            ("TimeoutError", "Workflow failed to return within 1500ms")
        );
        assert_eq!(e.severity, Severity::Kill);
        let e = EngineFailure::OutOfMemory.to_error();
        assert_eq!(e.message, "Run exceeded maximum memory usage");
        let e = EngineFailure::Exit { code: 137 }.to_error();
        assert_eq!(
            (e.message.as_str(), e.severity),
            ("Process exited with code: 137", Severity::Crash)
        );
        let e = EngineFailure::CredentialLoad(vec![
            ("zzz".into(), "[fetch:credential] x".into()),
            ("zzz".into(), "[fetch:credential] x".into()),
            ("y".into(), "[fetch:credential] timeout".into()),
        ])
        .to_error();
        assert_eq!(
            e.message,
            "Failed to load credential zzz: [fetch:credential] x\nFailed to load credential y: [fetch:credential] timeout"
        );
        assert_eq!(e.severity, Severity::Exception);
    }

    #[test]
    fn events_serialise_with_kit_names() {
        let ev = EngineEvent::WorkflowError {
            workflow_id: "w".into(),
            thread_id: None,
            error: EngineFailure::OutOfMemory.to_error(),
        };
        let json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["event"], "workflow-error");
        assert_eq!(json["type"], "OOMError");
        assert_eq!(json["workflowId"], "w");
        assert_eq!(json["severity"], "kill");
        assert!(ev.is_terminal());
    }
}
