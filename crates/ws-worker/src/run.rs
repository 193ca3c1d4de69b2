//! One run's lifecycle (§3.4–§3.14): join `run:<id>`, `fetch:plan`, `fetch:dataclip`, start the
//! engine, map its events to `run:start` / `step:*` / logs / `run:complete`, send them through
//! the run's [`Outbox`] in strict order, leave the channel.
//!
//! Two tasks per run: the *producer* turns engine events into wire events and appends them to
//! the outbox without ever waiting for the socket; the *sender* pushes the outbox head, waits
//! for the acknowledgement, and survives reconnects by rejoining and re-sending.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::channel::Channel;
use crate::config::Config;
use crate::executor::{
    Collections, EngineEvent, Executor, Resolvers, RunOptions, RunRequest, StepError,
};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Spill};
use crate::redact::Redactor;
use crate::socket::Socket;
use openfn_lexicon::error::{ExitReason, RunReason};
use openfn_lexicon::lightning::{
    DATACLIP_TOO_LARGE, Mem, RunComplete, RunStart, StepComplete, StepStart, WebhookResponse,
};
use resolvers::{LightningResolvers, spill_dir};

mod lifetime;
mod resolvers;
mod sender;
mod versions;

/// Upper bound of one run's outbox in memory (payload bytes held while Lightning is unreachable
/// or slow); past it, large items spill to disk.
pub const OUTBOX_BUDGET: usize = 64 * 1024 * 1024;
/// Log lines of one run held in memory at most (estimated bytes, about 10 000 lines); while
/// Lightning is slower than the job, further lines go to segment files under the spill dir.
pub const OUTBOX_LOG_MEMORY: usize = 2 * 1024 * 1024;
/// Upper bound of one run's outbox on disk; past it, dataclip bodies are withheld.
pub const OUTBOX_SPILL_BUDGET: usize = 1024 * 1024 * 1024;

/// What every run needs from the worker.
pub struct RunContext {
    pub config: Arc<Config>,
    pub socket: Socket,
    pub executor: Arc<dyn Executor>,
    pub metrics: Arc<Metrics>,
}

/// A run handed out by a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedRun {
    pub id: String,
    pub token: String,
}

/// Microseconds since the epoch as a string (16 digits), `offset_ms` earlier.
pub fn timestamp_us(offset_ms: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    now.saturating_sub(u128::from(offset_ms) * 1000).to_string()
}

struct Shared {
    outbox: Mutex<Outbox>,
    notify: Notify,
}

impl Shared {
    /// Reads or takes from the outbox.
    fn with<T>(&self, f: impl FnOnce(&mut Outbox) -> T) -> T {
        match self.outbox.lock() {
            Ok(mut o) => f(&mut o),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Adds to the outbox and wakes the sender.
    fn push<T>(&self, f: impl FnOnce(&mut Outbox) -> T) -> T {
        let out = self.with(f);
        self.notify.notify_one();
        out
    }
}

/// Executes one claimed run to the end; returns the reason sent in `run:complete`, or `None`
/// if the run was lost (join refused, plan unavailable, completion never acknowledged).
pub async fn execute(ctx: Arc<RunContext>, claimed: ClaimedRun) -> Option<String> {
    let span = tracing::info_span!("run", run_id = %claimed.id);
    execute_inner(ctx, claimed).instrument(span).await
}

async fn execute_inner(ctx: Arc<RunContext>, claimed: ClaimedRun) -> Option<String> {
    let cfg = ctx.config.clone();
    let msg_timeout = cfg.message_timeout;
    let topic = format!("run:{}", claimed.id);
    let lifetime = lifetime::claim_lifetime(&claimed.token, cfg.max_run_duration);
    let channel = Arc::new(
        Channel::new(
            ctx.socket.clone(),
            topic,
            json!({ "token": claimed.token }),
            msg_timeout,
        )
        .with_join_deadline(tokio::time::Instant::now() + lifetime)
        .with_metrics(ctx.metrics.clone()),
    );
    if let Err(e) = channel.ensure_joined().await {
        tracing::error!(
            "failed to join run channel: {e} (the claim expires {}s after it was made); the run will be lost",
            lifetime.as_secs()
        );
        channel.leave();
        return None;
    }
    tracing::info!("joined run channel");

    let plan = match channel
        .request_with("fetch:plan", json!({}), msg_timeout, sender::patience(&ctx))
        .await
    {
        Ok(r) if r.is_ok() => match r.into_json() {
            Ok(v) if v.is_object() => v,
            Ok(_) | Err(_) => {
                tracing::error!(
                    "fetch:plan returned something that is not a plan; the run will be lost"
                );
                channel.leave();
                return None;
            }
        },
        Ok(r) => {
            tracing::error!(
                "fetch:plan refused: {}; the run will be lost",
                r.response_text()
            );
            channel.leave();
            return None;
        }
        Err(e) => {
            tracing::error!("fetch:plan failed: {e}; the run will be lost");
            channel.leave();
            return None;
        }
    };

    let options = plan
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let payload_limit_mb = options
        .get("payload_limit_mb")
        .and_then(Value::as_f64)
        .unwrap_or(cfg.payload_limit_mb);
    let log_payload_limit_mb = options
        .get("log_payload_limit_mb")
        .and_then(Value::as_f64)
        .or(cfg.log_payload_limit_mb);
    let run_options = RunOptions {
        run_timeout: options
            .get("run_timeout_ms")
            .and_then(Value::as_u64)
            .map(Duration::from_millis)
            .unwrap_or(cfg.max_run_duration),
        memory_limit_mb: options
            .get("run_memory_limit_mb")
            .and_then(Value::as_u64)
            .unwrap_or(cfg.run_memory_mb),
        payload_limit_mb,
        log_payload_limit_mb,
        sanitize: options
            .get("sanitize")
            .and_then(Value::as_str)
            .map(str::to_string),
        job_log_level: options
            .get("job_log_level")
            .and_then(Value::as_str)
            .map(str::to_string),
        state_props_to_remove: cfg.state_props_to_remove.clone(),
    };
    let output_dataclips = options.get("output_dataclips") != Some(&Value::Bool(false));

    let shared = Arc::new(Shared {
        outbox: Mutex::new(Outbox::with_spill(
            OUTBOX_BUDGET,
            Spill {
                dir: spill_dir(&claimed.id),
                budget: OUTBOX_SPILL_BUDGET,
                log_memory: OUTBOX_LOG_MEMORY,
            },
        )),
        notify: Notify::new(),
    });
    let redactor = Redactor::new();
    let sender = tokio::spawn(
        sender::sender(
            ctx.clone(),
            channel.clone(),
            shared.clone(),
            redactor.clone(),
            claimed.id.clone(),
        )
        .instrument(tracing::Span::current()),
    );

    let dataclip_id = plan
        .get("dataclip_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut mapper = Mapper::new(
        &plan,
        dataclip_id.clone(),
        output_dataclips,
        &run_options,
        &ctx,
    );

    let input = match &dataclip_id {
        None => Ok(None),
        Some(id) => match channel
            .request_with(
                "fetch:dataclip",
                json!({ "id": id }),
                msg_timeout,
                sender::patience(&ctx),
            )
            .await
        {
            Ok(r) if r.is_ok() => r
                .bytes()
                .map(|b| Some(b.into_owned()))
                .map_err(|e| e.to_string()),
            Ok(r) => Err(r.response_text()),
            Err(e) => Err(e.to_string()),
        }
        .map_err(|text| format!("Failed to load dataclip {id}: [fetch:dataclip] {text}")),
    };

    match input {
        Err(message) => {
            tracing::error!("{message}");
            mapper.error_completion(&shared, "exception", "DataClipError", &message);
        }
        Ok(input) => {
            let collections = cfg.collections_url.as_ref().map(|url| Collections {
                url: url.clone(),
                version: cfg
                    .collections_version
                    .clone()
                    .unwrap_or_else(|| "latest".into()),
                token: claimed.token.clone(),
            });
            let request = RunRequest {
                run_id: claimed.id.clone(),
                plan,
                input,
                options: run_options,
                collections,
                monorepo_dir: cfg.monorepo_dir.clone(),
            };
            let resolvers: Arc<dyn Resolvers> = Arc::new(LightningResolvers {
                channel: channel.clone(),
                timeout: msg_timeout,
                patience: sender::patience(&ctx),
                redactor: redactor.clone(),
            });
            let mut events = ctx.executor.execute(request, resolvers);
            let mut finished = false;
            while let Some(event) = events.recv().await {
                if mapper.on_event(event, &shared) {
                    finished = true;
                    break;
                }
            }
            if !finished {
                mapper.error_completion(
                    &shared,
                    "exception",
                    "ExecutionError",
                    "the engine stopped without completing the run",
                );
            }
        }
    }
    shared.push(Outbox::close);
    let sent = match sender.await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::error!("run sender failed: {e}");
            false
        }
    };
    channel.leave();
    let (spilled, withheld, dropped_logs, log_peak) = shared.with(|o| {
        (
            o.spilled_total(),
            o.withheld_total(),
            o.dropped_logs(),
            o.log_bytes_peak(),
        )
    });
    ctx.metrics.outbox_pressure(spilled, withheld, dropped_logs);
    ctx.metrics.outbox_log_peak(log_peak);
    if sent {
        match &mapper.final_error {
            None => tracing::info!(reason = %mapper.final_reason, "run complete"),
            // A failed job is ordinary; anything else (a crash, a kill) is the operator's news.
            Some(error) if mapper.final_reason == "fail" => {
                tracing::info!(reason = %mapper.final_reason, "run complete: {}", redactor.redact_str(error));
            }
            Some(error) => {
                tracing::warn!(reason = %mapper.final_reason, "run complete: {}", redactor.redact_str(error));
            }
        }
        Some(mapper.final_reason)
    } else {
        tracing::error!("run:complete was not acknowledged: this run will be lost");
        None
    }
}

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
struct Mapper {
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
    final_reason: String,
    /// `Type: message` of the error the run ended with, for the worker's own log.
    final_error: Option<String>,
    /// Adaptors fetched for this run before it started, logged after `run:start`.
    installed: Vec<(String, u64)>,
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

impl Mapper {
    fn new(
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
    fn error_completion(&mut self, shared: &Shared, reason: &str, error_type: &str, message: &str) {
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
    fn on_event(&mut self, event: EngineEvent, shared: &Shared) -> bool {
        match event {
            EngineEvent::WorkflowStart { versions } => {
                let all = versions::run_start_versions(
                    &self.worker_version,
                    &self.engine_version,
                    versions,
                );
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
                false
            }
            EngineEvent::AdaptorInstalled {
                specifier,
                duration_ms,
            } => {
                self.installed.push((specifier, duration_ms));
                false
            }
            EngineEvent::JobStart { job_id } => {
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
                false
            }
            EngineEvent::JobComplete {
                job_id,
                state,
                duration_ms,
                next,
                mem,
                thread_id,
                redacted,
            } => {
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
                false
            }
            EngineEvent::JobError {
                job_id,
                state,
                error,
                duration_ms,
                next,
                thread_id,
                redacted,
            } => {
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
                false
            }
            EngineEvent::Log {
                level,
                source,
                message,
                timestamp,
                redacted,
            } => {
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
                    return false;
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
                false
            }
            EngineEvent::WorkflowComplete { state } => {
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
                true
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
                true
            }
        }
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
