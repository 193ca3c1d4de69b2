//! Queue and run channel payloads: claims, joins, and every worker→Lightning event payload.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::topics::Event;
use crate::de::{null_as_default, present};
use crate::error::ExitReason;
use crate::failure::{Error, Result, decode_value};
use crate::log::{Level, LogLine, micros_from_nanos};
use crate::ordered::OrderedMap;
use crate::phoenix::Frame;

/// The `worker:queue` join payload: `{"capacity":5,"queues":{"manual>*":5}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueJoin {
    /// Total slots.
    pub capacity: u32,
    /// Slots per workloop queue chain (chain joined with `>`).
    #[serde(default)]
    pub queues: OrderedMap<u32>,
}

/// The `claim` payload: `{"demand":1,"worker_name":null,"queues":["manual","*"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// Runs wanted (always 1 in practice).
    #[serde(default = "one")]
    pub demand: u32,
    /// `WORKER_NAME` / `DEPLOYED_POD_NAME`, or `null`.
    #[serde(default)]
    pub worker_name: Option<String>,
    /// The workloop's ordered queue preference; `*` means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queues: Option<Vec<String>>,
}

fn one() -> u32 {
    1
}

/// The `claim` OK reply: `{"runs":[{"id","token"}]}`; empty means no work.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClaimReply {
    /// Claimed runs.
    #[serde(default, deserialize_with = "null_as_default")]
    pub runs: Vec<ClaimedRun>,
}

/// One claimed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedRun {
    /// Run id.
    pub id: String,
    /// Run JWT (join payload of `run:<id>`, collections token).
    pub token: String,
}

// ---------------------------------------------------------------------------------------------
// Run channel

/// The `run:<id>` join payload: `{"token": "<run JWT>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJoin {
    /// The run JWT.
    pub token: String,
}

/// `fetch:credential` / `fetch:dataclip` payload: `{"id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPayload {
    /// Credential or dataclip id.
    pub id: String,
}

/// `run:start`: `{"versions": {...}, "timestamp": "<µs>"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunStart {
    /// `worker`, `node`, `engine`, `compiler`, `runtime`, plus adaptor name → `[versions]`.
    #[serde(default)]
    pub versions: Map<String, Value>,
    /// 16-digit µs string (Lightning defaults it to now when missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// `step:start`: `{step_id, job_id, timestamp, input_dataclip_id?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepStart {
    /// New uuid made by the worker.
    pub step_id: String,
    /// The job.
    pub job_id: String,
    /// µs string.
    pub timestamp: String,
    /// The input dataclip, omitted when it was withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dataclip_id: Option<String>,
}

/// Memory use of a step, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mem {
    /// Heap used by the job.
    pub job: u64,
    /// Process resident size.
    pub system: u64,
    /// Peak resident size during the step; only with the worker's `--profile` (the kit sends
    /// it then too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
}

/// `webhook_response` of `step:complete`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebhookResponse {
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// The value of `output_dataclip_error` for a dataclip over the payload limit.
pub const DATACLIP_TOO_LARGE: &str = "DATACLIP_TOO_LARGE";

/// `step:complete`, keys in the observed order (docs/protocol.md §3.10). Absent options are absent
/// keys; `error_type`/`error_message` are always present (`null` on success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepComplete {
    /// The step.
    pub step_id: String,
    /// The job.
    pub job_id: String,
    /// Absent when the step ended with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Mem>,
    /// Duration in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    /// The engine's thread id (a number from the kit engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Value>,
    /// µs string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// [`DATACLIP_TOO_LARGE`] when the output was withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip_error: Option<String>,
    /// New uuid of the output dataclip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip_id: Option<String>,
    /// The output state as compact JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dataclip: Option<String>,
    /// `reason`, `error_type`, `error_message`.
    #[serde(flatten)]
    pub exit: ExitReason,
    /// Copied from the output state's `webhookResponse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_response: Option<WebhookResponse>,
}

/// One log line as sent to Lightning: `{message, source, level, timestamp, step_id?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLogLine {
    /// Strings and JSON values.
    pub message: Vec<Value>,
    /// Logger name (`JOB`, `R/T`…).
    pub source: String,
    /// Level.
    pub level: Level,
    /// µs string.
    pub timestamp: String,
    /// The active step, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
}

impl RunLogLine {
    /// A Lightning log line from an engine log line: `name` becomes `source`, the ns `time`
    /// becomes the µs `timestamp`.
    pub fn from_log_line(line: &LogLine, step_id: Option<&str>) -> Self {
        Self {
            message: line.message.clone(),
            source: line.name.clone(),
            level: line.level,
            timestamp: micros_from_nanos(&line.time),
            step_id: step_id.map(str::to_owned),
        }
    }
}

/// Legacy `run:log`: `{"run_id", ...line}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The run.
    pub run_id: String,
    /// The line.
    #[serde(flatten)]
    pub line: RunLogLine,
}

/// `run:batch_logs`: `{"run_id", "logs": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchLogs {
    /// The run.
    pub run_id: String,
    /// The lines.
    pub logs: Vec<RunLogLine>,
}

/// `run:complete`, both shapes (docs/protocol.md §3.12): normal completion
/// `{timestamp, final_state, reason, error_type, error_message, final_dataclip_id?}` and error
/// completion `{reason, error_type, error_message}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunComplete {
    /// µs string; absent on the error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The final state (may be JSON `null`); absent on the error shape.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub final_state: Option<Value>,
    /// `reason`, `error_type`, `error_message`.
    #[serde(flatten)]
    pub exit: ExitReason,
    /// Only with exactly one leaf whose dataclip was not withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_dataclip_id: Option<String>,
}

impl RunComplete {
    /// The normal-completion shape.
    pub fn completed(
        timestamp: String,
        final_state: Value,
        exit: ExitReason,
        final_dataclip_id: Option<String>,
    ) -> Self {
        Self {
            timestamp: Some(timestamp),
            final_state: Some(final_state),
            exit,
            final_dataclip_id,
        }
    }

    /// The error shape: only the three reason keys.
    pub fn errored(exit: ExitReason) -> Self {
        Self {
            timestamp: None,
            final_state: None,
            exit,
            final_dataclip_id: None,
        }
    }
}

/// The keys the mock accepts in `run:complete`.
pub const RUN_COMPLETE_KEYS: [&str; 6] = [
    "final_dataclip_id",
    "final_state",
    "reason",
    "error_type",
    "error_message",
    "timestamp",
];

/// A push from the worker to Lightning, typed by event.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerPush {
    /// `claim`.
    Claim(ClaimRequest),
    /// `fetch:plan` (payload `{}`).
    FetchPlan,
    /// `fetch:credential`.
    FetchCredential(IdPayload),
    /// `fetch:dataclip`.
    FetchDataclip(IdPayload),
    /// `run:start`.
    RunStart(RunStart),
    /// `step:start`.
    StepStart(StepStart),
    /// `step:complete`.
    StepComplete(StepComplete),
    /// `run:log`.
    RunLog(RunLog),
    /// `run:batch_logs`.
    RunBatchLogs(BatchLogs),
    /// `run:complete`.
    RunComplete(RunComplete),
}

impl WorkerPush {
    /// The event name.
    pub fn event(&self) -> Event {
        match self {
            Self::Claim(_) => Event::Claim,
            Self::FetchPlan => Event::FetchPlan,
            Self::FetchCredential(_) => Event::FetchCredential,
            Self::FetchDataclip(_) => Event::FetchDataclip,
            Self::RunStart(_) => Event::RunStart,
            Self::StepStart(_) => Event::StepStart,
            Self::StepComplete(_) => Event::StepComplete,
            Self::RunLog(_) => Event::RunLog,
            Self::RunBatchLogs(_) => Event::RunBatchLogs,
            Self::RunComplete(_) => Event::RunComplete,
        }
    }

    /// The payload as JSON.
    pub fn to_payload(&self) -> Value {
        let value = match self {
            Self::Claim(p) => serde_json::to_value(p),
            Self::FetchPlan => Ok(json!({})),
            Self::FetchCredential(p) | Self::FetchDataclip(p) => serde_json::to_value(p),
            Self::RunStart(p) => serde_json::to_value(p),
            Self::StepStart(p) => serde_json::to_value(p),
            Self::StepComplete(p) => serde_json::to_value(p),
            Self::RunLog(p) => serde_json::to_value(p),
            Self::RunBatchLogs(p) => serde_json::to_value(p),
            Self::RunComplete(p) => serde_json::to_value(p),
        };
        value.unwrap_or(Value::Null)
    }

    /// The push as a frame on `topic` (`run:<id>` or `worker:queue`) with the given refs.
    pub fn to_frame(&self, topic: &str, join_ref: Option<&str>, r#ref: &str) -> Frame {
        Frame::new(topic, self.event().as_str(), self.to_payload()).with_refs(join_ref, Some(r#ref))
    }

    /// Decodes a worker push from its event name and payload.
    ///
    /// # Errors
    /// [`Error::UnknownEvent`] for a name that is not a worker→Lightning event;
    /// [`Error::Decode`] naming the event and the field for a payload of the wrong shape.
    pub fn decode(event: &str, payload: Value) -> Result<Self> {
        let event: Event = event.parse()?;
        let what = event.as_str();
        Ok(match event {
            Event::Claim => Self::Claim(decode_value(what, payload)?),
            Event::FetchPlan => Self::FetchPlan,
            Event::FetchCredential => Self::FetchCredential(decode_value(what, payload)?),
            Event::FetchDataclip => Self::FetchDataclip(decode_value(what, payload)?),
            Event::RunStart => Self::RunStart(decode_value(what, payload)?),
            Event::StepStart => Self::StepStart(decode_value(what, payload)?),
            Event::StepComplete => Self::StepComplete(decode_value(what, payload)?),
            Event::RunLog => Self::RunLog(decode_value(what, payload)?),
            Event::RunBatchLogs => Self::RunBatchLogs(decode_value(what, payload)?),
            Event::RunComplete => Self::RunComplete(decode_value(what, payload)?),
            Event::WorkAvailable => return Err(Error::UnknownEvent(what.to_owned())),
        })
    }
}
