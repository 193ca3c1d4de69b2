//! Error classes of the kit runtime (docs/execution.md §2.7): the serialisable `RtError` written to
//! `state.errors[stepId]` or returned when a run aborts, and the crate's `RunError`.

use openfn_lexicon::error::SerializedError;
pub use openfn_lexicon::error::Severity;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A source position (1-based line; column as the kit reports it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// The user's source line, when a source map gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
}

/// A runtime error as the kit serialises it (own enumerable properties of an `RTError`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtError {
    /// Always `runtime`.
    pub source: String,
    /// Class name: JobError, RuntimeError, AdaptorError, RuntimeCrash, SecurityError, …
    pub name: String,
    /// Severity.
    pub severity: Severity,
    /// Message.
    pub message: String,
    /// Wrapped error constructor name (RuntimeError/RuntimeCrash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Position in the (source-mapped) job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<Position>,
    /// Step name or id, set when the position was source-mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// A hint for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Extra data (AdaptorError: the original error as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// AdaptorError: line of the top-level operation (`-1` when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
    /// AdaptorError: name of the top-level operation (`""` when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    /// Stack trace (not enumerable in the kit, so never written to state).
    #[serde(skip)]
    pub stack: Option<String>,
    /// Index of the top-level operation an adaptor error is attributed to.
    #[serde(skip)]
    pub operation_index: Option<usize>,
}

impl RtError {
    /// A bare error of the given class.
    pub fn new(name: &str, severity: Severity, message: impl Into<String>) -> Self {
        RtError {
            source: "runtime".to_string(),
            name: name.to_string(),
            severity,
            message: message.into(),
            subtype: None,
            pos: None,
            step: None,
            fix: None,
            details: None,
            line: None,
            operation_name: None,
            stack: None,
            operation_index: None,
        }
    }

    /// `ValidationError` (crash).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", Severity::Crash, message)
    }

    /// `ImportError` (crash).
    pub fn import(message: impl Into<String>) -> Self {
        Self::new("ImportError", Severity::Crash, message)
    }

    /// `TimeoutError` (kill).
    pub fn timeout(ms: u64) -> Self {
        Self::new(
            "TimeoutError",
            Severity::Kill,
            format!("Job took longer than {ms}ms to complete"),
        )
    }

    /// `OOMError` (kill).
    pub fn oom() -> Self {
        Self::new(
            "OOMError",
            Severity::Kill,
            "Run exceeded maximum memory usage",
        )
    }

    /// `StateTooLargeError` (kill).
    pub fn state_too_large(limit_mb: f64) -> Self {
        Self::new(
            "StateTooLargeError",
            Severity::Kill,
            format!("State exceeds the limit of {limit_mb}mb"),
        )
    }

    /// `SecurityError` (kill).
    pub fn security() -> Self {
        Self::new(
            "SecurityError",
            Severity::Kill,
            "Illegal eval statement detected",
        )
    }

    /// `EdgeConditionError` (crash).
    pub fn edge_condition(message: impl Into<String>) -> Self {
        Self::new("EdgeConditionError", Severity::Crash, message)
    }

    /// The error as the JSON object written to `state.errors[stepId]`.
    pub fn to_value(&self) -> Value {
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        // the kit's key order (the order its error classes assign their fields), which users
        // see in the CLI's printed state
        let order: &[&str] = match self.name.as_str() {
            "RuntimeError" => &[
                "source", "name", "pos", "step", "severity", "subtype", "message",
            ],
            "AdaptorError" => &[
                "source",
                "name",
                "details",
                "severity",
                "message",
                "line",
                "operationName",
            ],
            _ => return value,
        };
        let Value::Object(mut map) = value else {
            return value;
        };
        let mut ordered = serde_json::Map::new();
        for key in order {
            if let Some(v) = map.remove(*key) {
                ordered.insert((*key).to_owned(), v);
            }
        }
        ordered.extend(map);
        Value::Object(ordered)
    }

    /// Whether the run must stop.
    pub fn aborts(&self) -> bool {
        self.severity.aborts_run()
    }

    /// The lexicon's serialised form (what engine events and `state.errors` carry).
    pub fn to_serialized(&self) -> SerializedError {
        serde_json::from_value(self.to_value()).unwrap_or_else(|_| SerializedError {
            source: Some(self.source.clone()),
            name: self.name.clone(),
            severity: self.severity,
            message: self.message.clone(),
            subtype: self.subtype.clone(),
            pos: None,
            step: self.step.clone(),
            details: self.details.clone(),
            extra: serde_json::Map::new(),
        })
    }
}

impl std::fmt::Display for RtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// Why `run` returned no outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A crash or kill severity error stopped the workflow (the kit's `run` rejects).
    #[error("{0}")]
    Aborted(Box<RtError>),
    /// QuickJS itself failed (runtime creation and the like).
    #[error("javascript engine error: {0}")]
    Engine(String),
    /// A callback (credential or state resolution) failed.
    #[error("callback failed: {0}")]
    Callback(String),
    /// The input state or a resolved value was not valid JSON.
    #[error("invalid json: {0}")]
    Json(#[from] serde_json::Error),
}

impl RunError {
    /// The runtime error when the run aborted.
    pub fn rt_error(&self) -> Option<&RtError> {
        match self {
            RunError::Aborted(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RtError> for RunError {
    fn from(e: RtError) -> Self {
        RunError::Aborted(Box::new(e))
    }
}

impl From<Box<RtError>> for RunError {
    fn from(e: Box<RtError>) -> Self {
        RunError::Aborted(e)
    }
}

impl From<rquickjs::Error> for RunError {
    fn from(e: rquickjs::Error) -> Self {
        RunError::Engine(e.to_string())
    }
}
