//! The guest's framed messages (one JSON object per `openfn.emit` call).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message from the guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum GuestMessage {
    /// A console call.
    Log(LogLine),
    /// Every operation ran: the final state.
    Result {
        /// The final state (`null` when the last operation returned nothing).
        state: Value,
    },
    /// Loading the job or an operation threw.
    Error(GuestError),
    /// Plan mode: a runtime event (`job-start`, `job-complete`, …) and its payload.
    Event {
        /// The event's name.
        name: String,
        /// Its payload, as the native runtime's `Event::payload`.
        payload: Value,
    },
    /// Plan mode: one log line of the runtime (a `LogLine` as JSON).
    Line {
        /// The line.
        line: Value,
    },
    /// Plan mode: the workflow completed with this final state.
    Done {
        /// The final state.
        state: Value,
    },
    /// Plan mode: a crash or kill error stopped the workflow.
    Abort {
        /// The error (`RtError::to_value`).
        error: Value,
    },
    /// Plan mode: the run starts in the runtime prepared by the snapshot's initialisation
    /// (the instance came from a pre-initialised snapshot with the adaptors loaded).
    Prepared,
}

/// A console line from the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// `log`, `info`, `warn`, `error`, `debug` or `trace`.
    pub level: String,
    /// The console arguments (JSON; errors as `Name: message`, `undefined` as a string).
    pub message: Vec<Value>,
}

/// What the guest saw thrown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestError {
    /// `load` (evaluating the job module) or `run` (an operation).
    pub phase: String,
    /// The thrown Error's constructor name; `null` for non-Error values.
    #[serde(default)]
    pub ctor: Option<String>,
    /// The error's `name`, or a kit class name the guest decided (InvalidExportsError…).
    #[serde(default)]
    pub name: Option<String>,
    /// The message (or the thrown value, as JSON or text).
    #[serde(default)]
    pub message: String,
    /// QuickJS' stack, when the thrown value had one.
    #[serde(default)]
    pub stack: Option<String>,
    /// The index of the operation that threw.
    #[serde(default)]
    pub operation: Option<usize>,
}
