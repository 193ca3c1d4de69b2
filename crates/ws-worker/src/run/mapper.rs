//! The kit's event processor: engine events of one run become wire events (`run:start`,
//! `step:*`, logs, `run:complete`) appended to the run's outbox, in order.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::versions;
use super::{RunContext, Shared, timestamp_us};
use crate::executor::{EngineEvent, RunOptions, StepError};
use openfn_lexicon::error::{ExitReason, RunReason};
use openfn_lexicon::lightning::{
    DATACLIP_TOO_LARGE, Mem, RunComplete, RunStart, StepComplete, StepStart, WebhookResponse,
};

/// The `reason`/`error_type`/`error_message` triple; an unknown reason string is a crash.
fn exit_reason(
    reason: &str,
    error_type: Option<String>,
    error_message: Option<String>,
) -> ExitReason {
    let reason = serde_json::from_value::<RunReason>(Value::String(reason.to_string()))
        .unwrap_or(RunReason::Crash);
    ExitReason {
        reason,
        error_type,
        error_message,
    }
}

/// A wire payload as JSON (the outbox edits payloads when it must shed memory).
fn to_json<T: serde::Serialize>(payload: &T) -> Value {
    serde_json::to_value(payload).unwrap_or(Value::Null)
}

struct Leaf {
    job_id: String,
    reason: String,
    error_type: Option<String>,
    error_message: Option<String>,
    dataclip_id: Option<String>,
}

/// Turns engine events into wire events (the kit's event processor).
pub(super) struct Mapper {
    dataclip_id: Option<String>,
    start_jobs: HashSet<String>,
    input_for: HashMap<String, Option<String>>,
    active: Option<(String, String)>,
    leaves: Vec<Leaf>,
    output_dataclips: bool,
    payload_limit_mb: f64,
    log_limit_mb: f64,
    worker_version: String,
    engine_version: String,
    pub(super) final_reason: String,
    /// `Type: message` of the error the run ended with, for the worker's own log.
    pub(super) final_error: Option<String>,
    /// Adaptors fetched for this run before it started, logged after `run:start`.
    installed: Vec<(String, u64)>,
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl Mapper {
    pub(super) fn new(
        plan: &Value,
        dataclip_id: Option<String>,
        output_dataclips: bool,
        opts: &RunOptions,
        ctx: &RunContext,
    ) -> Mapper {
        let empty = Vec::new();
        let jobs = plan.get("jobs").and_then(Value::as_array).unwrap_or(&empty);
        let edges = plan
            .get("edges")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let triggers = plan
            .get("triggers")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        let start = str_of(plan, "starting_node_id");
        let mut start_jobs = HashSet::new();
        if let Some(s) = start
            && jobs.iter().any(|j| str_of(j, "id") == Some(s))
        {
            start_jobs.insert(s.to_string());
        } else {
            let trigger = start.or_else(|| triggers.first().and_then(|t| str_of(t, "id")));
            for e in edges {
                if trigger.is_some()
                    && str_of(e, "source_trigger_id") == trigger
                    && let Some(t) = str_of(e, "target_job_id")
                {
                    start_jobs.insert(t.to_string());
                }
            }
            if start_jobs.is_empty()
                && let Some(first) = jobs.first().and_then(|j| str_of(j, "id"))
            {
                start_jobs.insert(first.to_string());
            }
        }
        Mapper {
            dataclip_id,
            start_jobs,
            input_for: HashMap::new(),
            active: None,
            leaves: Vec::new(),
            output_dataclips,
            payload_limit_mb: opts.payload_limit_mb,
            log_limit_mb: opts.log_payload_limit_mb.unwrap_or(opts.payload_limit_mb),
            worker_version: env!("CARGO_PKG_VERSION").to_string(),
            engine_version: ctx.executor.version(),
            final_reason: "exception".into(),
            final_error: None,
            installed: Vec::new(),
        }
    }

    fn worker_log(&self, shared: &Shared, source: &str, level: &str, message: Value) {
        let line = json!({
            "message": message,
            "source": source,
            "level": level,
            "timestamp": timestamp_us(10),
        });
        shared.push(|o| o.push_log(line, true));
    }

    fn reason_logs(
        &self,
        shared: &Shared,
        reason: &str,
        error_type: Option<&str>,
        message: Option<&str>,
    ) {
        self.worker_log(
            shared,
            "R/T",
            "info",
            json!([format!("Run complete with status: {reason}")]),
        );
        if reason != "success" {
            let t = error_type.unwrap_or("Error");
            let m = message.unwrap_or("unknown");
            self.worker_log(shared, "R/T", "info", json!([format!("{t}: {m}")]));
        }
    }

    /// Queues the error completion (§3.12 b), preceded by the kill-form `step:complete` of the
    /// active step.
    pub(super) fn error_completion(
        &mut self,
        shared: &Shared,
        reason: &str,
        error_type: &str,
        message: &str,
    ) {
        if let Some((job_id, step_id)) = self.active.take() {
            let payload = StepComplete {
                step_id,
                job_id,
                mem: None,
                duration: None,
                thread_id: None,
                timestamp: None,
                output_dataclip_error: None,
                output_dataclip_id: Some(uuid::Uuid::new_v4().to_string()),
                output_dataclip: Some("{}".into()),
                exit: exit_reason(reason, Some(error_type.into()), Some(message.into())),
                webhook_response: None,
            };
            shared.push(|o| o.push_event("step:complete", to_json(&payload)));
        }
        self.reason_logs(shared, reason, Some(error_type), Some(message));
        let payload = RunComplete::errored(exit_reason(
            reason,
            Some(error_type.into()),
            Some(message.into()),
        ));
        shared.push(|o| o.push_event("run:complete", to_json(&payload)));
        self.final_reason = reason.to_string();
        self.final_error = Some(format!("{error_type}: {message}"));
    }

    /// Handles one engine event; true when the run is complete.
    pub(super) fn on_event(&mut self, event: EngineEvent, shared: &Shared) -> bool {
        match event {
            EngineEvent::WorkflowStart { versions } => self.on_workflow_start(versions, shared),
            EngineEvent::AdaptorInstalled {
                specifier,
                duration_ms,
            } => self.installed.push((specifier, duration_ms)),
            EngineEvent::JobStart { job_id } => self.on_job_start(job_id, shared),
            event @ EngineEvent::JobComplete { .. } => self.on_job_complete(event, shared),
            event @ EngineEvent::JobError { .. } => self.on_job_error(event, shared),
            event @ EngineEvent::Log { .. } => self.on_log(event, shared),
            EngineEvent::WorkflowComplete { state } => {
                self.on_workflow_complete(state, shared);
                return true;
            }
            EngineEvent::WorkflowError {
                error_type,
                message,
                severity,
            } => {
                let reason = if severity.is_empty() {
                    "exception".to_string()
                } else {
                    severity
                };
                self.error_completion(shared, &reason, &error_type, &message);
                return true;
            }
        }
        false
    }

    /// `run:start`, then the worker's own lines (payload limit, versions, installs).
    fn on_workflow_start(&mut self, versions: serde_json::Map<String, Value>, shared: &Shared) {
        let all =
            versions::run_start_versions(&self.worker_version, &self.engine_version, versions);
        let text = versions::version_text(&all);
        shared.push(|o| {
            o.push_event(
                "run:start",
                to_json(&RunStart {
                    versions: all.clone(),
                    timestamp: Some(timestamp_us(0)),
                }),
            )
        });
        self.worker_log(
            shared,
            "RTE",
            "info",
            json!([format!("Payload limit: {}mb", self.payload_limit_mb)]),
        );
        self.worker_log(shared, "VER", "info", json!([text]));
        for (specifier, ms) in std::mem::take(&mut self.installed) {
            let took = format!("{:.2}s", ms as f64 / 1000.0);
            let line = format!("Installed adaptor {specifier} for this run in {took}");
            self.worker_log(shared, "RTE", "info", json!([line]));
        }
    }

    fn on_job_start(&mut self, job_id: String, shared: &Shared) {
        let step_id = uuid::Uuid::new_v4().to_string();
        let input = match self.input_for.get(&job_id) {
            Some(id) => id.clone(),
            None if self.start_jobs.contains(&job_id) => self.dataclip_id.clone(),
            None => None,
        };
        let input = input.filter(|id| !shared.with(|o| o.is_withheld(id)));
        let payload = StepStart {
            step_id: step_id.clone(),
            job_id: job_id.clone(),
            timestamp: timestamp_us(0),
            input_dataclip_id: input,
        };
        shared.push(|o| o.push_event("step:start", to_json(&payload)));
        self.active = Some((job_id, step_id));
    }

    /// A step that ended; `state.errors.<job>` makes it a `fail`.
    fn on_job_complete(&mut self, event: EngineEvent, shared: &Shared) {
        let EngineEvent::JobComplete {
            job_id,
            state,
            duration_ms,
            next,
            mem,
            thread_id,
            redacted,
        } = event
        else {
            return;
        };
        let (reason, error_type, error_message) =
            match state.get("errors").and_then(|e| e.get(&job_id)) {
                Some(err) => (
                    "fail".to_string(),
                    str_of(err, "name")
                        .or_else(|| str_of(err, "type"))
                        .map(str::to_string),
                    str_of(err, "message").map(str::to_string),
                ),
                None => ("success".to_string(), None, None),
            };
        self.step_complete(
            shared,
            job_id,
            state,
            duration_ms,
            next,
            mem,
            thread_id,
            redacted,
            reason,
            error_type,
            error_message,
        );
    }

    /// A step that threw: a `fail` when the job recorded it in `state.errors`, else its severity.
    fn on_job_error(&mut self, event: EngineEvent, shared: &Shared) {
        let EngineEvent::JobError {
            job_id,
            state,
            error,
            duration_ms,
            next,
            thread_id,
            redacted,
        } = event
        else {
            return;
        };
        let StepError {
            severity,
            error_type,
            message,
        } = error;
        let (reason, t, m) = match state.get("errors").and_then(|e| e.get(&job_id)) {
            Some(err) if severity == "fail" || severity.is_empty() => (
                "fail".to_string(),
                str_of(err, "name").map(str::to_string).or(Some(error_type)),
                str_of(err, "message").map(str::to_string).or(Some(message)),
            ),
            _ => (
                if severity.is_empty() {
                    "crash".to_string()
                } else {
                    severity
                },
                Some(error_type),
                Some(message),
            ),
        };
        self.step_complete(
            shared,
            job_id,
            state,
            duration_ms,
            next,
            None,
            thread_id,
            redacted,
            reason,
            t,
            m,
        );
    }

    fn on_log(&self, event: EngineEvent, shared: &Shared) {
        let EngineEvent::Log {
            level,
            source,
            message,
            timestamp,
            redacted,
        } = event
        else {
            return;
        };
        let message = if redacted {
            json!([format!(
                "(Log message redacted: exceeds {}mb memory limit)",
                self.log_limit_mb
            )])
        } else {
            match message {
                Value::String(s) => match serde_json::from_str::<Value>(&s) {
                    Ok(Value::Array(a)) => Value::Array(a),
                    _ => json!([s]),
                },
                Value::Array(a) => Value::Array(a),
                other => json!([other]),
            }
        };
        if message.as_array().is_some_and(Vec::is_empty) {
            return;
        }
        let mut line = json!({
            "message": message,
            "source": source,
            "level": level,
            "timestamp": timestamp.unwrap_or_else(|| timestamp_us(0)),
        });
        if let (Some((_, step_id)), Some(map)) = (&self.active, line.as_object_mut()) {
            map.insert("step_id".into(), json!(step_id));
        }
        shared.push(|o| o.push_log(line, false));
    }

    /// `run:complete`: `fail` when a leaf step failed, else `success`.
    fn on_workflow_complete(&mut self, state: Value, shared: &Shared) {
        let failed = self.leaves.iter().find(|l| l.reason == "fail");
        let (reason, error_type, error_message) = match failed {
            Some(l) => (
                "fail".to_string(),
                l.error_type.clone(),
                l.error_message.clone(),
            ),
            None => ("success".to_string(), None, None),
        };
        self.reason_logs(
            shared,
            &reason,
            error_type.as_deref(),
            error_message.as_deref(),
        );
        let final_dataclip_id = match self.leaves.as_slice() {
            [leaf] => leaf
                .dataclip_id
                .clone()
                .filter(|id| !shared.with(|o| o.is_withheld(id))),
            _ => None,
        };
        let mut complete = RunComplete::completed(
            timestamp_us(0),
            state,
            exit_reason(&reason, error_type.clone(), error_message.clone()),
            final_dataclip_id,
        );
        // no final state (the last step returned none): the kit's worker sends
        // `final_state: undefined`, which leaves the key out
        if complete.final_state.as_ref().is_some_and(Value::is_null) {
            complete.final_state = None;
        }
        let payload = to_json(&complete);
        tracing::debug!(leaves = ?self.leaves.iter().map(|l| l.job_id.as_str()).collect::<Vec<_>>(), "workflow complete");
        shared.push(|o| o.push_event("run:complete", payload));
        if reason != "success" {
            self.final_error = Some(format!(
                "{}: {}",
                error_type.as_deref().unwrap_or("Error"),
                error_message.as_deref().unwrap_or("unknown")
            ));
        }
        self.final_reason = reason;
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one call site per engine event kind; a struct would only rename the fields"
    )]
    fn step_complete(
        &mut self,
        shared: &Shared,
        job_id: String,
        state: Value,
        duration_ms: u64,
        next: Vec<String>,
        mem: Option<Mem>,
        thread_id: Option<Value>,
        redacted: bool,
        reason: String,
        error_type: Option<String>,
        error_message: Option<String>,
    ) {
        let step_id = match self.active.take() {
            Some((j, s)) if j == job_id => s,
            other => {
                self.active = other;
                uuid::Uuid::new_v4().to_string()
            }
        };
        let mut payload = StepComplete {
            step_id,
            job_id,
            mem,
            duration: Some(duration_ms),
            thread_id: Some(thread_id.unwrap_or(Value::Null)),
            timestamp: Some(timestamp_us(0)),
            output_dataclip_error: None,
            output_dataclip_id: None,
            output_dataclip: None,
            exit: exit_reason(&reason, error_type.clone(), error_message.clone()),
            webhook_response: state.get("webhookResponse").map(|hook| WebhookResponse {
                status: hook
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok()),
                body: hook.get("body").cloned(),
            }),
        };
        let dataclip_id = if redacted {
            self.worker_log(
                shared,
                "R/T",
                "info",
                json!(["Dataclip exceeds payload limit: output will not be sent back to the app."]),
            );
            payload.output_dataclip_error = Some(DATACLIP_TOO_LARGE.into());
            None
        } else {
            let id = uuid::Uuid::new_v4().to_string();
            payload.output_dataclip_id = Some(id.clone());
            if self.output_dataclips {
                // a step that returned no state (the runtime's `null`) sends `{}`, as the kit's
                // worker does (`event.state || {}`)
                payload.output_dataclip = Some(if state.is_null() {
                    "{}".to_owned()
                } else {
                    state.to_string()
                });
            }
            Some(id)
        };
        let job_id = payload.job_id.clone();
        shared.push(|o| o.push_event("step:complete", to_json(&payload)));
        for n in &next {
            self.input_for.insert(n.clone(), dataclip_id.clone());
        }
        if next.is_empty() {
            self.leaves.push(Leaf {
                job_id,
                reason,
                error_type,
                error_message,
                dataclip_id,
            });
        }
    }
}
