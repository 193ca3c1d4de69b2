//! The wasm tier's child job (the `wasm` feature): the plan is compiled here as the native
//! child compiles it, then run by the same `openfn-runtime` inside a wasmtime instance
//! (crates/sandbox-wasm), one fresh instance per run. The guest's log lines and runtime events
//! are streamed to the [`JobSink`] as the guest sends them, each step's events carrying the
//! fuel it used; credentials and dataclips are asked of the supervisor through the sink.
//!
//! Limits: the run's memory limit caps the instance's linear memory (reaching it ends the run
//! with `OOMError`, which the job cannot catch); the run timeout stays the supervisor's
//! (interrupt, then kill after the grace period); the fuel budget is only a backstop far above
//! any timeout.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openfn_lexicon::error::SerializedError;
use openfn_lexicon::log::LogLevel;
use openfn_lexicon::plan::ExecutionPlan;
use openfn_sandbox_wasm::{
    GuestMessage, Limits, MessageHook, PlanOptions, PlanResolver, WasmError, WasmSandbox,
};
use serde_json::Value;

use super::js::{RUNTIME_DEADLINE_SLACK_MS, compiled_plan};
use super::{ChildJob, Failure, JobRequest, JobSink};
use crate::event::{EngineFailure, ErrorInfo, Mem, Severity};

/// Fuel a run may use: a backstop only (about an hour of JavaScript); the supervisor's run
/// timeout ends runs long before.
const FUEL_BACKSTOP: u64 = 1 << 42;

/// Runs plans on the wasm tier: the guest module is loaded (from the artifact cache) once per
/// child process.
pub struct WasmJob {
    sandbox: WasmSandbox,
    /// Options shared by every run (the HTTP transport and its connection pools).
    base: PlanOptions,
}

impl WasmJob {
    /// Loads the guest module at `guest`, using (and filling) the artifact cache `cache_dir`.
    pub fn load(guest: &Path, cache_dir: &Path) -> Result<Self, WasmError> {
        Ok(Self {
            sandbox: WasmSandbox::load(guest, cache_dir)?,
            base: PlanOptions {
                allowed_hosts: vec!["*".to_owned()],
                log_level: "debug".to_owned(),
                ..PlanOptions::default()
            },
        })
    }
}

/// Credentials and dataclips through the supervisor (the sink blocks until it answers).
struct SinkResolver(Arc<dyn JobSink>);

impl PlanResolver for SinkResolver {
    fn credential(&self, id: &str) -> Result<Value, String> {
        let text = self.0.credential(id)?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    fn dataclip(&self, id: &str) -> Result<Value, String> {
        let text = self.0.state(id)?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }
}

/// The engine's form of a runtime error (`RtError::to_value` or a kill from the host).
fn error_info(value: &Value) -> ErrorInfo {
    match serde_json::from_value::<SerializedError>(value.clone()) {
        Ok(e) => ErrorInfo {
            error_type: e.name.clone(),
            name: Some(e.name),
            subtype: e.subtype,
            message: e.message,
            severity: e.severity,
        },
        Err(_) => ErrorInfo::new(
            "ExecutionError",
            value["message"].as_str().unwrap_or("the wasm guest failed"),
            Severity::Crash,
        ),
    }
}

/// Forwards the guest's messages to the sink as they arrive.
struct Stream {
    sink: Arc<dyn JobSink>,
    job_log_level: Option<String>,
    /// The fuel used when each running step started.
    started_at: Mutex<HashMap<String, u64>>,
}

impl Stream {
    fn job_line_allowed(&self, level: &str) -> bool {
        match self.job_log_level.as_deref() {
            None => true,
            Some("none") => false,
            Some(other) => {
                let wanted = serde_json::from_value::<LogLevel>(Value::String(other.to_owned()));
                let level = serde_json::from_value(Value::String(level.to_owned()));
                match (wanted, level) {
                    (Ok(wanted), Ok(level)) => wanted.allows(level),
                    _ => true,
                }
            }
        }
    }

    fn on_message(&self, message: &GuestMessage, fuel: u64) {
        match message {
            GuestMessage::Line { line } => self.line(line),
            GuestMessage::Event { name, payload } => self.event(name, payload, fuel),
            _ => {}
        }
    }

    fn line(&self, line: &Value) {
        let level = line["level"].as_str().unwrap_or("info");
        let name = line["name"].as_str().unwrap_or("R/T");
        if name == "JOB" && !self.job_line_allowed(level) {
            return;
        }
        let message = line.get("message").cloned().unwrap_or(Value::Array(vec![]));
        self.sink.log(level, name, message.to_string());
    }

    fn event(&self, name: &str, payload: &Value, fuel: u64) {
        let job_id = payload["jobId"].as_str().unwrap_or_default();
        let mut started = self
            .started_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if name == "job-start" {
            started.insert(job_id.to_owned(), fuel);
            drop(started);
            return self.sink.job_start(job_id);
        }
        let used = started.remove(job_id).map(|at| fuel.saturating_sub(at));
        drop(started);
        let duration = payload["duration"].as_u64().unwrap_or(0);
        let next: Vec<String> = serde_json::from_value(payload["next"].clone()).unwrap_or_default();
        let state = payload.get("state").unwrap_or(&Value::Null).to_string();
        match name {
            "job-complete" => {
                let mem: Mem = serde_json::from_value(payload["mem"].clone()).unwrap_or_default();
                self.sink
                    .job_complete(job_id, duration, next, mem, state, used);
            }
            "job-error" => {
                let error = error_info(&payload["error"]);
                self.sink
                    .job_error(job_id, duration, next, error, state, used);
            }
            _ => {}
        }
    }
}

/// Whether `error` is the runtime's own run deadline (the run's timeout plus the slack the
/// engine gives it), rather than a step's shorter timeout.
fn is_run_deadline(error: &ErrorInfo, run_timeout_ms: u64) -> bool {
    run_timeout_ms > 0
        && error.error_type == "TimeoutError"
        && error.message
            == openfn_runtime::RtError::timeout(run_timeout_ms + RUNTIME_DEADLINE_SLACK_MS).message
}

/// The adaptors a plan links to local trees (`linker[name].path`, set by autoinstall).
fn linked(plan: &ExecutionPlan) -> BTreeMap<String, PathBuf> {
    plan.workflow
        .steps
        .iter()
        .filter_map(|step| step.linker.as_ref())
        .flat_map(|linker| linker.iter())
        .filter_map(|(name, module)| {
            Some((name.to_owned(), PathBuf::from(module.path.as_deref()?)))
        })
        .collect()
}

impl ChildJob for WasmJob {
    fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("compiler".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("runtime".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ])
    }

    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        let settings = request.settings;
        let (plan, repo) = compiled_plan(&request.plan, &settings, sink.as_ref())?;
        let fail = |e: String| Failure::new(ErrorInfo::new("ExecutionError", e, Severity::Crash));
        let input: Option<Value> = request
            .input
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|e| fail(format!("the input is not JSON: {e}")))?;
        let stream = Arc::new(Stream {
            sink: Arc::clone(&sink),
            job_log_level: settings.job_log_level.clone(),
            started_at: Mutex::new(HashMap::new()),
        });
        let hook: MessageHook = Arc::new(move |m: &GuestMessage, fuel| stream.on_message(m, fuel));
        let mut options = self.base.clone();
        options.linked = linked(&plan);
        options.repo = Some(repo);
        options.run_timeout_ms = (settings.run_timeout_ms > 0)
            .then(|| settings.run_timeout_ms + RUNTIME_DEADLINE_SLACK_MS);
        options.state_props_to_remove = Some(settings.state_props_to_remove.clone());
        options.console_text = settings.console_text;
        options.adaptor_cache_key = settings
            .adaptor_cache_key
            .then(|| settings.workflow_id.clone());
        options.globals = settings.globals.clone().map(Value::Object);
        options.resolver = Some(Arc::new(SinkResolver(Arc::clone(&sink))));
        options.on_message = Some(hook);
        let limits = Limits {
            fuel: FUEL_BACKSTOP,
            memory_bytes: usize::try_from(settings.memory_limit_mb.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            // streamed messages pass the child loop's payload limits one by one
            output_bytes: usize::MAX,
        };
        let plan = serde_json::to_value(&plan).map_err(|e| fail(e.to_string()))?;
        let outcome = self
            .sandbox
            .run_plan(&plan, input.as_ref(), &options, &limits)
            .map_err(|e| fail(e.to_string()))?;
        match (outcome.state, outcome.error) {
            (_, Some(error)) => {
                let mut error = error_info(&error);
                // The kit's workflow-error `type` is `subtype || type || name`.
                if let Some(subtype) = &error.subtype {
                    error.error_type = subtype.clone();
                }
                if is_run_deadline(&error, settings.run_timeout_ms) {
                    // natively the supervisor's timer ends such a run, just before the runtime's
                    // deadline; the guest's virtual clock reaches that deadline first
                    error = EngineFailure::Timeout {
                        ms: settings.run_timeout_ms,
                    }
                    .to_error();
                }
                Err(Failure {
                    recycle: error.error_type == "OOMError",
                    error,
                })
            }
            (Some(state), None) => Ok(state.to_string()),
            (None, None) => Ok("null".to_owned()),
        }
    }

    fn os_memory_backstop(&self) -> bool {
        // wasmtime reserves several GiB of address space per linear memory; the cap on the
        // instance's memory is the limit here
        false
    }
}
