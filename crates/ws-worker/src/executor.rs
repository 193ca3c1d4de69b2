//! The seam between the worker and the engine: the run handler only ever talks to an
//! [`Executor`], which turns a Lightning plan plus input bytes into a stream of
//! [`EngineEvent`]s, asking [`Resolvers`] for credentials on the way.
//!
//! The worker never runs or compiles user code: the real implementation forwards to
//! `openfn-engine`; [`MockExecutor`] (the `--mock` engine: local demos, and tests about the
//! worker itself; the worker's run tests use the real engine) only interprets JSON job bodies
//! and never evaluates code.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_lexicon::lightning::Mem;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// A boxed future, for object-safe async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Lazy loaders the engine calls while preparing a run.
pub trait Resolvers: Send + Sync {
    /// Fetches credential `id`; the error is the text after `Failed to load credential <id>: `.
    fn credential(&self, id: String) -> BoxFuture<'static, Result<Value, String>>;
}

/// Per-run engine options, resolved from the plan options and the worker defaults (§3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub run_timeout: Duration,
    pub memory_limit_mb: u64,
    pub payload_limit_mb: f64,
    /// The log limit; the engine falls back to `payload_limit_mb` when unset.
    pub log_payload_limit_mb: Option<f64>,
    pub sanitize: Option<String>,
    pub job_log_level: Option<String>,
    pub state_props_to_remove: Vec<String>,
}

/// Collections settings injected into a run (§7.4).
#[derive(Debug, Clone, PartialEq)]
pub struct Collections {
    pub url: String,
    pub version: String,
    /// The run token, used as `collections_token`.
    pub token: String,
}

/// Everything the engine needs for one run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: String,
    /// The Lightning plan exactly as `fetch:plan` returned it.
    pub plan: Value,
    /// The input dataclip bytes, passed through untouched; `None` means `{}`.
    pub input: Option<Vec<u8>>,
    pub options: RunOptions,
    pub collections: Option<Collections>,
    pub monorepo_dir: Option<std::path::PathBuf>,
}

/// A step error as the engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    /// `fail`, `crash`, `kill`, `exception`.
    pub severity: String,
    /// Error class, e.g. `JobError`.
    pub error_type: String,
    pub message: String,
}

/// Engine events for one run (§3.5), as the worker consumes them.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    WorkflowStart {
        /// `node`, `engine`, `compiler`, `runtime`, and one key per adaptor → array of versions.
        versions: Map<String, Value>,
    },
    JobStart {
        job_id: String,
    },
    JobComplete {
        job_id: String,
        state: Value,
        duration_ms: u64,
        next: Vec<String>,
        mem: Option<Mem>,
        thread_id: Option<Value>,
        /// Output over the payload limit: withhold the dataclip.
        redacted: bool,
    },
    JobError {
        job_id: String,
        state: Value,
        error: StepError,
        duration_ms: u64,
        next: Vec<String>,
        thread_id: Option<Value>,
        /// Output over the payload limit: withhold the dataclip.
        redacted: bool,
    },
    Log {
        level: String,
        /// Logger name: `JOB`, `ADA`, `R/T`, `RTE`.
        source: String,
        /// The message array, or its JSON text.
        message: Value,
        /// Microsecond timestamp string, if the engine gave one.
        timestamp: Option<String>,
        redacted: bool,
    },
    /// An adaptor was fetched from the registry for this run (before `WorkflowStart`; the run's
    /// log says so once the run has started). Not sent for adaptors already installed.
    AdaptorInstalled {
        /// `name@version`.
        specifier: String,
        duration_ms: u64,
    },
    WorkflowComplete {
        state: Value,
    },
    WorkflowError {
        error_type: String,
        message: String,
        severity: String,
    },
}

/// Runs plans. Implementations must keep executing when the receiver is slow: events are
/// buffered in an unbounded channel and the worker drains it into its outbox.
pub trait Executor: Send + Sync + 'static {
    /// Starts a run; events arrive on the returned receiver, ending with `WorkflowComplete` or
    /// `WorkflowError`.
    fn execute(
        &self,
        request: RunRequest,
        resolvers: Arc<dyn Resolvers>,
    ) -> mpsc::UnboundedReceiver<EngineEvent>;

    /// The engine's version, reported in `run:start`.
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

/// The `--mock` engine: each job body is a JSON object that becomes the step's output state
/// (non-JSON bodies pass the input through). Control keys, removed from the output:
/// `"__log": "text"` (a `JOB` log), `"__sleep": ms`, `"__fail": "message"` (a `JobError`
/// fail), `"__crash": "message"` (a run-level `RuntimeCrash`). Edges follow `always`,
/// `on_job_success`, `on_job_failure`; other conditions count as true.
#[derive(Debug, Default, Clone)]
pub struct MockExecutor;

impl Executor for MockExecutor {
    fn execute(
        &self,
        request: RunRequest,
        resolvers: Arc<dyn Resolvers>,
    ) -> mpsc::UnboundedReceiver<EngineEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let timeout = request.options.run_timeout;
            let started = Instant::now();
            let tx2 = tx.clone();
            match tokio::time::timeout(timeout, mock_run(request, resolvers, tx2)).await {
                Ok(()) => {}
                Err(_) => {
                    let _ = tx.send(EngineEvent::WorkflowError {
                        error_type: "TimeoutError".into(),
                        message: format!(
                            "Workflow failed to return within {}ms",
                            started.elapsed().as_millis()
                        ),
                        severity: "kill".into(),
                    });
                }
            }
        });
        rx
    }
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn json_size_mb(v: &Value) -> f64 {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0) as f64 / (1024.0 * 1024.0)
}

async fn mock_run(
    request: RunRequest,
    resolvers: Arc<dyn Resolvers>,
    tx: mpsc::UnboundedSender<EngineEvent>,
) {
    let plan = &request.plan;
    let empty = Vec::new();
    let jobs = plan.get("jobs").and_then(Value::as_array).unwrap_or(&empty);
    let edges = plan
        .get("edges")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let job_by_id: HashMap<&str, &Value> = jobs
        .iter()
        .filter_map(|j| Some((str_field(j, "id")?, j)))
        .collect();

    if let Err(message) = load_credentials(jobs, &resolvers).await {
        let _ = tx.send(EngineEvent::WorkflowError {
            error_type: "CredentialLoadError".into(),
            message,
            severity: "exception".into(),
        });
        return;
    }
    let _ = tx.send(EngineEvent::Log {
        level: "info".into(),
        source: "RTE".into(),
        message: json!([format!(
            "Memory limit: {}mb",
            request.options.memory_limit_mb
        )]),
        timestamp: None,
        redacted: false,
    });
    let _ = tx.send(EngineEvent::WorkflowStart {
        versions: Map::new(),
    });

    let input: Value = match &request.input {
        Some(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        None => json!({}),
    };
    let start_jobs = match start_jobs(plan, &job_by_id, edges) {
        Ok(jobs) => jobs,
        Err(message) => {
            let _ = tx.send(EngineEvent::WorkflowError {
                error_type: "ValidationError".into(),
                message,
                severity: "crash".into(),
            });
            return;
        }
    };
    let mut queue: Vec<(String, Value)> =
        start_jobs.into_iter().map(|j| (j, input.clone())).collect();
    let mut leaves: Vec<(String, Value)> = Vec::new();
    let payload_limit = request.options.payload_limit_mb;
    while !queue.is_empty() {
        let (job_id, state_in) = queue.remove(0);
        let Some(job) = job_by_id.get(job_id.as_str()) else {
            continue;
        };
        let Some((out, next)) =
            mock_job(&request.options, edges, &job_id, job, state_in, &tx).await
        else {
            return;
        };
        if next.is_empty() {
            leaves.push((job_id.clone(), out.clone()));
        }
        for n in next {
            queue.push((n, out.clone()));
        }
    }
    let state = final_state(leaves, payload_limit);
    let _ = tx.send(EngineEvent::WorkflowComplete { state });
}

/// Fetches every job's credential in parallel, like the engine's pre-load; the error is the
/// joined failure messages.
async fn load_credentials(jobs: &[Value], resolvers: &Arc<dyn Resolvers>) -> Result<(), String> {
    let mut ids: Vec<String> = Vec::new();
    for j in jobs {
        if let Some(id) = str_field(j, "credential_id").or_else(|| str_field(j, "credential"))
            && !ids.iter().any(|i| i == id)
        {
            ids.push(id.to_string());
        }
    }
    let fetches = ids.iter().map(|id| {
        let r = resolvers.clone();
        let id = id.clone();
        async move { (id.clone(), r.credential(id).await) }
    });
    let results = futures_util::future::join_all(fetches).await;
    let errors: Vec<String> = results
        .iter()
        .filter_map(|(id, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("Failed to load credential {id}: {e}"))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// The jobs a run starts with: the starting node if it is a job, else the enabled edges out of
/// the starting (or first) trigger. The error names a start node that leads nowhere.
fn start_jobs(
    plan: &Value,
    job_by_id: &HashMap<&str, &Value>,
    edges: &[Value],
) -> Result<Vec<String>, String> {
    let start = str_field(plan, "starting_node_id");
    let start_jobs: Vec<String> = match start {
        Some(s) if job_by_id.contains_key(s) => vec![s.to_string()],
        _ => {
            let tid = start.map(str::to_string).or_else(|| {
                plan.get("triggers")
                    .and_then(Value::as_array)
                    .and_then(|t| t.first())
                    .and_then(|t| str_field(t, "id"))
                    .map(str::to_string)
            });
            edges
                .iter()
                .filter(|e| tid.is_some() && str_field(e, "source_trigger_id") == tid.as_deref())
                .filter(|e| e.get("enabled").and_then(Value::as_bool) != Some(false))
                .filter_map(|e| str_field(e, "target_job_id").map(str::to_string))
                .collect()
        }
    };
    if start_jobs.is_empty() && start.is_some() {
        return Err(format!(
            "Could not find start job: {}",
            start.unwrap_or_default()
        ));
    }
    Ok(start_jobs)
}

/// Runs one mock job: sends its start, log and completion (or error) events and returns its
/// output state and next jobs; `None` when it crashed the run (the error is already sent).
async fn mock_job(
    options: &RunOptions,
    edges: &[Value],
    job_id: &str,
    job: &Value,
    state_in: Value,
    tx: &mpsc::UnboundedSender<EngineEvent>,
) -> Option<(Value, Vec<String>)> {
    let started = Instant::now();
    let _ = tx.send(EngineEvent::JobStart {
        job_id: job_id.to_owned(),
    });
    let body = str_field(job, "body").unwrap_or("");
    let mut out = serde_json::from_str::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .unwrap_or(state_in);
    let mut fail = None;
    if let Value::Object(map) = &mut out {
        fail = apply_controls(map, options, job_id, tx).await?;
    }
    let next = next_jobs(edges, job_id, fail.is_some());
    let duration_ms = started.elapsed().as_millis() as u64;
    let redacted = json_size_mb(&out) > options.payload_limit_mb;
    if let Some(message) = fail {
        let _ = tx.send(EngineEvent::JobError {
            job_id: job_id.to_owned(),
            state: out.clone(),
            error: StepError {
                severity: "fail".into(),
                error_type: "JobError".into(),
                message,
            },
            duration_ms,
            next: next.clone(),
            thread_id: Some(json!(1)),
            redacted,
        });
    } else {
        let _ = tx.send(EngineEvent::JobComplete {
            job_id: job_id.to_owned(),
            state: out.clone(),
            duration_ms,
            next: next.clone(),
            mem: Some(Mem {
                job: 1024,
                system: 4096,
                peak: None,
            }),
            thread_id: Some(json!(1)),
            redacted,
        });
    }
    Some((out, next))
}

/// Applies (and removes) the control keys of a mock job's output: `__sleep`, `__log`,
/// `__crash` (`None`: the run crashed, the error is sent) and `__fail` (`Some(Some(message))`);
/// then drops the state props to remove.
async fn apply_controls(
    map: &mut Map<String, Value>,
    options: &RunOptions,
    job_id: &str,
    tx: &mpsc::UnboundedSender<EngineEvent>,
) -> Option<Option<String>> {
    let log_limit = options
        .log_payload_limit_mb
        .unwrap_or(options.payload_limit_mb);
    if let Some(ms) = map.remove("__sleep").and_then(|v| v.as_u64()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(text) = map.remove("__log") {
        let message = json!([text]);
        let redacted = json_size_mb(&message) > log_limit;
        let message = if redacted {
            json!(["[REDACTED: Message length exceeds payload limit]"])
        } else {
            message
        };
        let _ = tx.send(EngineEvent::Log {
            level: "info".into(),
            source: "JOB".into(),
            message,
            timestamp: None,
            redacted,
        });
    }
    if let Some(msg) = map.remove("__crash") {
        let _ = tx.send(EngineEvent::WorkflowError {
            error_type: "RuntimeCrash".into(),
            message: msg.as_str().unwrap_or("crash").to_string(),
            severity: "crash".into(),
        });
        return None;
    }
    let mut fail = None;
    if let Some(msg) = map.remove("__fail") {
        let message = msg.as_str().unwrap_or("fail").to_string();
        let errors = map.entry("errors").or_insert_with(|| json!({}));
        if let Value::Object(e) = errors {
            e.insert(
                job_id.to_owned(),
                json!({"name": "JobError", "message": message, "severity": "fail"}),
            );
        }
        fail = Some(message);
    }
    for p in &options.state_props_to_remove {
        map.remove(p);
    }
    Some(fail)
}

/// The enabled edges out of a job whose condition holds (`always`, success, failure; other
/// conditions count as true).
fn next_jobs(edges: &[Value], job_id: &str, failed: bool) -> Vec<String> {
    edges
        .iter()
        .filter(|e| str_field(e, "source_job_id") == Some(job_id))
        .filter(|e| e.get("enabled").and_then(Value::as_bool) != Some(false))
        .filter(|e| match str_field(e, "condition") {
            Some("on_job_success") | Some("on_upstream_success") => !failed,
            Some("on_job_failure") | Some("on_upstream_fail") => failed,
            _ => true,
        })
        .filter_map(|e| str_field(e, "target_job_id").map(str::to_string))
        .collect()
}

/// The run's final state: the single leaf's output, or the leaves by job id; its `data`
/// redacted when over the payload limit.
fn final_state(mut leaves: Vec<(String, Value)>, payload_limit: f64) -> Value {
    let state = match leaves.len() {
        0 => json!({}),
        1 => leaves.pop().map(|(_, s)| s).unwrap_or(Value::Null),
        _ => Value::Object(leaves.into_iter().collect()),
    };
    if json_size_mb(&state) > payload_limit {
        let mut s = state;
        if let Value::Object(m) = &mut s {
            m.insert("data".into(), json!("[REDACTED]"));
        }
        s
    } else {
        state
    }
}
