//! The framed channel between the supervisor and a child process (over the child's stdin and
//! stdout).
//!
//! A frame is `u32 header length (LE) | u32 body length (LE) | header | body`. The header is a
//! small JSON message ([`ToChild`] or [`ToParent`]); the body carries the one big JSON document a
//! message may have (a state, an input dataclip, a credential, a log message) as raw bytes, so a
//! 10 MB state is never escaped into a JSON string or parsed by the supervisor.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use openfn_lexicon::plan::SanitizePolicy;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::event::{ErrorInfo, Mem};

/// Largest header or body accepted (a sanity bound, far above any payload limit).
pub const MAX_SECTION: usize = 1 << 30;

/// One decoded frame: the JSON header bytes and the raw body.
#[derive(Debug)]
pub struct Frame {
    /// JSON text of the message.
    pub header: Vec<u8>,
    /// Raw JSON document carried beside the message (may be empty).
    pub body: Vec<u8>,
}

impl Frame {
    /// Decodes the header as `T`.
    pub fn message<T: for<'de> Deserialize<'de>>(&self) -> io::Result<T> {
        serde_json::from_slice(&self.header).map_err(io::Error::other)
    }
}

/// Encodes a message and its body as one frame.
pub fn encode<T: Serialize>(message: &T, body: &[u8]) -> io::Result<Vec<u8>> {
    let header = serde_json::to_vec(message).map_err(io::Error::other)?;
    if header.len() > MAX_SECTION || body.len() > MAX_SECTION {
        return Err(io::Error::other("ipc frame too large"));
    }
    let mut out = Vec::with_capacity(8 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(body);
    Ok(out)
}

fn lengths(prefix: [u8; 8]) -> io::Result<(usize, usize)> {
    let header = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    let body = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]) as usize;
    if header > MAX_SECTION || body > MAX_SECTION {
        return Err(io::Error::other("ipc frame too large"));
    }
    Ok((header, body))
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame starts.
pub fn read_frame_sync(reader: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut prefix = [0u8; 8];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let (h, b) = lengths(prefix)?;
    let mut header = vec![0u8; h];
    reader.read_exact(&mut header)?;
    let mut body = vec![0u8; b];
    reader.read_exact(&mut body)?;
    Ok(Some(Frame { header, body }))
}

/// Async twin of [`read_frame_sync`].
pub async fn read_frame(reader: &mut (impl AsyncRead + Unpin)) -> io::Result<Option<Frame>> {
    let mut prefix = [0u8; 8];
    let mut filled = 0;
    while filled < prefix.len() {
        let n = reader.read(&mut prefix[filled..]).await?;
        if n == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
    }
    let (h, b) = lengths(prefix)?;
    let mut header = vec![0u8; h];
    reader.read_exact(&mut header).await?;
    let mut body = vec![0u8; b];
    reader.read_exact(&mut body).await?;
    Ok(Some(Frame { header, body }))
}

/// Writes one frame and flushes.
pub fn write_frame_sync<T: Serialize>(
    writer: &mut impl Write,
    message: &T,
    body: &[u8],
) -> io::Result<()> {
    let frame = encode(message, body)?;
    writer.write_all(&frame)?;
    writer.flush()
}

/// Settings of one run, as the child needs them (all overrides already applied).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSettings {
    /// The plan id (events carry it as `workflowId`).
    pub workflow_id: String,
    /// Memory limit of the run in MB (JS heap limit; the OS backstop is a multiple of it).
    pub memory_limit_mb: u64,
    /// Run timeout in ms (the child's runtime may use it for its own interrupt).
    pub run_timeout_ms: u64,
    /// Outgoing state over this many bytes is redacted.
    pub payload_limit_bytes: u64,
    /// Log lines over this many bytes are redacted.
    pub log_payload_limit_bytes: u64,
    /// Runtime state size limit in MB.
    pub state_limit_mb: f64,
    /// Keys removed from every step's output state.
    pub state_props_to_remove: Vec<String>,
    /// Log sanitisation policy.
    pub sanitize: Option<SanitizePolicy>,
    /// Level of the `JOB` logger (`none` silences job logs).
    pub job_log_level: Option<String>,
    /// The adaptor repository directory.
    pub repo_dir: String,
    /// Module whitelist, as regular-expression source strings.
    pub whitelist: Vec<String>,
    /// Extra job globals (the worker sets `meta: {runId, startTime}`).
    #[serde(default)]
    pub globals: Option<serde_json::Map<String, serde_json::Value>>,
    /// How to compile and feed the job code.
    #[serde(default)]
    pub compile: crate::config::CompileSettings,
    /// Report each step's peak memory.
    #[serde(default)]
    pub profile: bool,
    /// Job `console` arguments as the kit's text logger shows them.
    #[serde(default)]
    pub console_text: bool,
    /// Adaptor frames carry `?cache=<workflow id>` (`EngineConfig::adaptor_cache_key`).
    #[serde(default)]
    pub adaptor_cache_key: bool,
    /// The child's last run (`max_runs_per_child` 1, as the CLI's): it exits after this run,
    /// so its QuickJS runtime is left to the OS rather than torn down object by object.
    #[serde(default)]
    pub last_run: bool,
}

/// Parent → child messages (externally tagged: the raw plan cannot sit in a buffered,
/// internally tagged enum).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToChild {
    /// Start a run. Body: the input state JSON (empty = no input).
    Run {
        /// Run number (unique per child).
        run: u64,
        /// The execution plan, as JSON.
        plan: Box<RawValue>,
        /// Effective limits and options.
        settings: RunSettings,
    },
    /// Stop the current run as soon as possible (timeout).
    Interrupt {
        /// Run number.
        run: u64,
    },
    /// Answer to a [`ToParent::Request`]. Body: the resolved JSON on success.
    Reply {
        /// Request number.
        req: u64,
        /// Error text when resolution failed.
        error: Option<String>,
    },
}

/// What the child asks the parent to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResolveKind {
    /// A credential by id.
    Credential,
    /// A state (dataclip) by id.
    State,
}

/// Child → parent messages.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum ToParent {
    /// Sent once at start-up.
    Ready {
        /// Child pid.
        pid: u32,
        /// Versions of the components linked into the child.
        versions: BTreeMap<String, String>,
    },
    /// An event of a run. Body: the state or log message, when the event has one.
    Event {
        /// Run number.
        run: u64,
        /// Nanoseconds since the Unix epoch.
        time: u64,
        /// The event.
        event: ChildEvent,
    },
    /// Ask the parent to resolve a credential or a state.
    Request {
        /// Run number.
        run: u64,
        /// Request number (echoed by the reply).
        req: u64,
        /// What to resolve.
        kind: ResolveKind,
        /// Its id.
        id: String,
    },
    /// The run is over; the child is idle again.
    Finished {
        /// Run number.
        run: u64,
        /// The child asks to be replaced (after an OOM or an interrupt).
        recycle: bool,
    },
}

/// Run events as the child reports them (the supervisor adds ids and forwards them).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ChildEvent {
    /// The workflow started.
    WorkflowStart,
    /// Compilation started.
    CompileStart,
    /// Every step compiled.
    CompileComplete {
        /// Milliseconds.
        duration: u64,
    },
    /// A step started.
    JobStart {
        /// Step id.
        job_id: String,
    },
    /// A step completed. Body: its output state.
    JobComplete {
        /// Step id.
        job_id: String,
        /// Milliseconds.
        duration: u64,
        /// Downstream step ids.
        next: Vec<String>,
        /// Memory figures.
        mem: Mem,
        /// The state was over the payload limit.
        redacted: bool,
        /// Fuel the step used (the wasm tier).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fuel: Option<u64>,
    },
    /// A step failed. Body: its output state.
    JobError {
        /// Step id.
        job_id: String,
        /// Milliseconds.
        duration: u64,
        /// Downstream step ids.
        next: Vec<String>,
        /// The error.
        error: ErrorInfo,
        /// The state was over the payload limit.
        redacted: bool,
        /// Fuel the step used (the wasm tier).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fuel: Option<u64>,
    },
    /// A log line. Body: the JSON array of message parts.
    Log {
        /// Level.
        level: String,
        /// Logger name (`R/T`, `JOB`, `ADA`, `RTE`).
        name: String,
        /// The message was over the log payload limit.
        redacted: bool,
    },
    /// The workflow completed. Body: the final state.
    WorkflowComplete {
        /// Milliseconds.
        duration: u64,
        /// The state was over the payload limit.
        redacted: bool,
    },
    /// The workflow failed.
    WorkflowError {
        /// The error.
        error: ErrorInfo,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_raw_bodies() {
        let msg = ToChild::Interrupt { run: 7 };
        let body = br#"{"data":{"x":"\u00e9"}}"#;
        let bytes = encode(&msg, body).unwrap();
        let frame = read_frame_sync(&mut &bytes[..]).unwrap().unwrap();
        assert_eq!(frame.body, body);
        match frame.message::<ToChild>().unwrap() {
            ToChild::Interrupt { run } => assert_eq!(run, 7),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn run_messages_keep_the_plan_raw() {
        let plan =
            RawValue::from_string(r#"{"id":"p","workflow":{"steps":[]}}"#.to_owned()).unwrap();
        let settings: RunSettings = serde_json::from_value(serde_json::json!({
            "workflow_id": "p", "memory_limit_mb": 1, "run_timeout_ms": 1, "payload_limit_bytes": 1,
            "log_payload_limit_bytes": 1, "state_limit_mb": 1.0, "state_props_to_remove": [],
            "sanitize": null, "job_log_level": null, "repo_dir": "/r", "whitelist": []
        }))
        .unwrap();
        let bytes = encode(
            &ToChild::Run {
                run: 1,
                plan,
                settings,
            },
            b"",
        )
        .unwrap();
        let frame = read_frame_sync(&mut &bytes[..]).unwrap().unwrap();
        match frame.message::<ToChild>().unwrap() {
            ToChild::Run { plan, .. } => {
                assert_eq!(plan.get(), r#"{"id":"p","workflow":{"steps":[]}}"#)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn end_of_stream_is_none_and_a_cut_frame_is_an_error() {
        assert!(read_frame_sync(&mut &b""[..]).unwrap().is_none());
        let bytes = encode(&ToChild::Interrupt { run: 1 }, b"{}").unwrap();
        assert!(read_frame_sync(&mut &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn oversized_lengths_are_rejected() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(u32::MAX).to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        assert!(read_frame_sync(&mut &bytes[..]).is_err());
    }
}
