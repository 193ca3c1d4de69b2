//! The kit's error classes and what they mean for a run: the **one place** that maps an error
//! class to its severity and to the exit reason reported to Lightning (docs/protocol.md §4,
//! docs/execution.md §2.7).
//!
//! A step's reason is its error's severity (`fail`, `crash`, `kill`, `exception`), its
//! `error_type` the class name; a step without an error is `success`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// How bad an error is, as carried in the kit's serialised errors (`severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The step failed; the workflow carries on (downstream edges are still evaluated).
    Fail,
    /// The run stops: the code or plan is broken.
    Crash,
    /// The run was killed by a limit (timeout, memory, state size, security).
    Kill,
    /// The platform failed around the run (install, credential, dataclip, engine).
    Exception,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Crash => "crash",
            Self::Kill => "kill",
            Self::Exception => "exception",
        }
    }

    /// Whether the error aborts the whole run (everything but `fail`).
    pub fn aborts_run(self) -> bool {
        self != Self::Fail
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's or step's exit reason, as sent to Lightning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunReason {
    /// Finished; steps may have failed on non-leaf branches.
    Success,
    /// A leaf step failed.
    Fail,
    /// See [`Severity::Crash`].
    Crash,
    /// See [`Severity::Kill`].
    Kill,
    /// See [`Severity::Exception`].
    Exception,
    /// Cancelled (Lightning only; the worker never sends it).
    Cancel,
}

impl RunReason {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Fail => "fail",
            Self::Crash => "crash",
            Self::Kill => "kill",
            Self::Exception => "exception",
            Self::Cancel => "cancel",
        }
    }
}

impl fmt::Display for RunReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Severity> for RunReason {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Fail => Self::Fail,
            Severity::Crash => Self::Crash,
            Severity::Kill => Self::Kill,
            Severity::Exception => Self::Exception,
        }
    }
}

/// The kit's error classes, by the name that becomes `error_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The job threw (`throw new Error('x')`, `throw 'x'`).
    JobError,
    /// A TypeError/RangeError in job code (`<Subtype>: <message>`).
    RuntimeError,
    /// An error thrown from adaptor code.
    AdaptorError,
    /// The job failed to compile (`<step>: <parser message>`).
    CompileError,
    /// The plan is invalid (`Could not find start job: y`).
    ValidationError,
    /// A module could not be imported or is not allowed.
    ImportError,
    /// ReferenceError/SyntaxError or any error flagged as a crash.
    RuntimeCrash,
    /// The job's exports are not an array.
    InvalidExportsError,
    /// A top-level statement of the job is not an operation.
    InvalidOperationError,
    /// An edge condition threw.
    EdgeConditionError,
    /// Invalid input to the runtime (live functions with `forceSandbox`).
    InputError,
    /// The job's thread or process exited.
    ExitError,
    /// The run or step took too long.
    TimeoutError,
    /// The run exceeded its memory limit.
    OomError,
    /// The state exceeded its size limit.
    StateTooLargeError,
    /// Code generation from strings (eval) was attempted.
    SecurityError,
    /// An adaptor failed to install.
    AutoinstallError,
    /// A credential failed to load.
    CredentialLoadError,
    /// The input dataclip failed to load (raised by the worker).
    DataClipError,
    /// An unknown engine failure.
    ExecutionError,
    /// Any other name (a user's `state.errors` entry, a JS error subtype…); severity crash,
    /// the kit's default.
    Other(String),
}

impl ErrorClass {
    /// Every named class (not [`ErrorClass::Other`]).
    pub const ALL: [Self; 20] = [
        Self::JobError,
        Self::RuntimeError,
        Self::AdaptorError,
        Self::CompileError,
        Self::ValidationError,
        Self::ImportError,
        Self::RuntimeCrash,
        Self::InvalidExportsError,
        Self::InvalidOperationError,
        Self::EdgeConditionError,
        Self::InputError,
        Self::ExitError,
        Self::TimeoutError,
        Self::OomError,
        Self::StateTooLargeError,
        Self::SecurityError,
        Self::AutoinstallError,
        Self::CredentialLoadError,
        Self::DataClipError,
        Self::ExecutionError,
    ];

    /// The class name, which is also the `error_type` sent to Lightning.
    pub fn error_type(&self) -> &str {
        match self {
            Self::JobError => "JobError",
            Self::RuntimeError => "RuntimeError",
            Self::AdaptorError => "AdaptorError",
            Self::CompileError => "CompileError",
            Self::ValidationError => "ValidationError",
            Self::ImportError => "ImportError",
            Self::RuntimeCrash => "RuntimeCrash",
            Self::InvalidExportsError => "InvalidExportsError",
            Self::InvalidOperationError => "InvalidOperationError",
            Self::EdgeConditionError => "EdgeConditionError",
            Self::InputError => "InputError",
            Self::ExitError => "ExitError",
            Self::TimeoutError => "TimeoutError",
            Self::OomError => "OOMError",
            Self::StateTooLargeError => "StateTooLargeError",
            Self::SecurityError => "SecurityError",
            Self::AutoinstallError => "AutoinstallError",
            Self::CredentialLoadError => "CredentialLoadError",
            Self::DataClipError => "DataClipError",
            Self::ExecutionError => "ExecutionError",
            Self::Other(name) => name,
        }
    }

    /// The class's severity: the single mapping from classes to severities.
    pub fn severity(&self) -> Severity {
        match self {
            Self::JobError | Self::RuntimeError | Self::AdaptorError => Severity::Fail,
            Self::CompileError
            | Self::ValidationError
            | Self::ImportError
            | Self::RuntimeCrash
            | Self::InvalidExportsError
            | Self::InvalidOperationError
            | Self::EdgeConditionError
            | Self::InputError
            | Self::ExitError
            | Self::Other(_) => Severity::Crash,
            Self::TimeoutError
            | Self::OomError
            | Self::StateTooLargeError
            | Self::SecurityError => Severity::Kill,
            Self::AutoinstallError
            | Self::CredentialLoadError
            | Self::DataClipError
            | Self::ExecutionError => Severity::Exception,
        }
    }

    /// The class for an `error_type` name; unknown names become [`ErrorClass::Other`].
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .find(|c| c.error_type() == name)
            .cloned()
            .unwrap_or_else(|| Self::Other(name.to_owned()))
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type())
    }
}

impl FromStr for ErrorClass {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_name(s))
    }
}

impl Serialize for ErrorClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.error_type())
    }
}

impl<'de> Deserialize<'de> for ErrorClass {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Self::from_name(&name))
    }
}

/// `{reason, error_type, error_message}` as sent in `step:complete` and `run:complete`.
/// `error_type` and `error_message` are `null` on success (the keys are always present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitReason {
    /// The reason.
    pub reason: RunReason,
    /// The error class name, `null` on success.
    #[serde(default)]
    pub error_type: Option<String>,
    /// The error message, `null` on success.
    #[serde(default)]
    pub error_message: Option<String>,
}

impl ExitReason {
    /// `success` with null type and message.
    pub fn success() -> Self {
        Self {
            reason: RunReason::Success,
            error_type: None,
            error_message: None,
        }
    }

    /// The reason for an error of `class` with `message`: reason = the class's severity.
    pub fn from_error(class: &ErrorClass, message: impl Into<String>) -> Self {
        Self {
            reason: class.severity().into(),
            error_type: Some(class.error_type().to_owned()),
            error_message: Some(message.into()),
        }
    }

    /// The reason for an error whose severity was given explicitly (the kit's serialised
    /// errors carry one; it wins over the class default).
    pub fn with_severity(
        severity: Severity,
        error_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            reason: severity.into(),
            error_type: Some(error_type.into()),
            error_message: Some(message.into()),
        }
    }
}

/// A source position in job code (`pos` of a serialised error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 0-based column.
    pub column: u64,
    /// The original source line, when a source map was available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
}

/// An error as the runtime serialises it into `state.errors[stepId]` and into engine events:
/// `{source, name, severity, message, subtype?, pos?, step?, details?, …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SerializedError {
    /// `runtime` for runtime errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The class name.
    pub name: String,
    /// The severity.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// The JS error subtype (`TypeError`…) for RuntimeError/RuntimeCrash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Where in the job it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Position>,
    /// The step (name or id) it happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Extra details (adaptor errors carry the original error here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Other keys (`fix`, `stack`, `operationName`, `line`…), kept for round-trips.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SerializedError {
    /// A runtime error of `class` with its default severity.
    pub fn new(class: &ErrorClass, message: impl Into<String>) -> Self {
        Self {
            source: Some("runtime".to_owned()),
            name: class.error_type().to_owned(),
            severity: class.severity(),
            message: message.into(),
            subtype: None,
            pos: None,
            step: None,
            details: None,
            extra: Map::new(),
        }
    }

    /// The exit reason this error produces.
    pub fn exit_reason(&self) -> ExitReason {
        ExitReason::with_severity(self.severity, self.name.clone(), self.message.clone())
    }
}
