//! The seam between the child loop and the code that actually executes a workflow: a
//! [`ChildJob`] compiles every step and runs the plan, reporting through a [`JobSink`].
//!
//! The child loop owns everything around it (IPC, payload limits, redaction, timestamps,
//! workflow-start/complete/error); a job only compiles, runs and reports.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::value::RawValue;

use crate::event::{ErrorInfo, Mem};
use crate::ipc::RunSettings;

/// One run, as handed to a [`ChildJob`].
#[derive(Debug)]
pub struct JobRequest {
    /// The execution plan (runtime JSON shape; `linker` paths filled in by autoinstall).
    pub plan: Box<RawValue>,
    /// The input state, if any.
    pub input: Option<Box<RawValue>>,
    /// Limits and options of the run.
    pub settings: RunSettings,
    /// Set when the supervisor asks the run to stop (timeout); the job should abort promptly.
    pub interrupt: Arc<AtomicBool>,
}

/// Why a run ended without a final state.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The error reported as `workflow-error`.
    pub error: ErrorInfo,
    /// The child should be replaced (its memory may be in a bad way, e.g. after an OOM).
    pub recycle: bool,
}

impl Failure {
    /// A failure that leaves the child reusable.
    pub fn new(error: ErrorInfo) -> Self {
        Self {
            error,
            recycle: false,
        }
    }
}

/// Where a job reports progress; implemented by the child loop. Calls may come from any thread.
pub trait JobSink: Send + Sync {
    /// Compilation of the plan's steps started.
    fn compile_start(&self);
    /// Every step compiled, after `duration_ms`.
    fn compile_complete(&self, duration_ms: u64);
    /// Step `job_id` started.
    fn job_start(&self, job_id: &str);
    /// Step `job_id` completed with output `state_json`; `fuel` is what it used on the wasm
    /// tier (`None` on the native tier).
    fn job_complete(
        &self,
        job_id: &str,
        duration_ms: u64,
        next: Vec<String>,
        mem: Mem,
        state_json: String,
        fuel: Option<u64>,
    );
    /// Step `job_id` failed; `state_json` is its output state, `fuel` as for `job_complete`.
    fn job_error(
        &self,
        job_id: &str,
        duration_ms: u64,
        next: Vec<String>,
        error: ErrorInfo,
        state_json: String,
        fuel: Option<u64>,
    );
    /// A log line: `message_json` is the JSON array of message parts.
    fn log(&self, level: &str, name: &str, message_json: String);
    /// Resolves a credential through the supervisor (blocks until it answers).
    fn credential(&self, id: &str) -> Result<String, String>;
    /// Resolves a state (dataclip) through the supervisor (blocks until it answers).
    fn state(&self, id: &str) -> Result<String, String>;
}

/// What the child executes for each run: compile each step, then run the workflow.
pub trait ChildJob {
    /// Versions of the components this job uses (`compiler`, `runtime`, …).
    fn versions(&self) -> BTreeMap<String, String>;
    /// Runs one workflow; returns the final state as JSON text.
    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure>;
    /// Whether a run gets the OS address-space backstop behind its memory limit. A job that
    /// enforces the limit itself and reserves large virtual ranges (wasmtime's linear
    /// memories) says no; the supervisor's resident-memory watchdog applies either way.
    fn os_memory_backstop(&self) -> bool {
        true
    }
}
