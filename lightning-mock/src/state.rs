//! The mock's shared state: runs, the queue, credential/dataclip/collection stores, connected
//! workers, the event bus behind `GET /events`, and the janitor's sweep.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, broadcast};

use crate::config::Config;
use crate::faults::FaultState;
use crate::history::History;
use crate::keys::{PLACEHOLDER_TOKEN, RunTokens};
use crate::queue::{PRIORITY_NORMAL, Queue};

/// One event on the bus behind `GET /events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The SSE event name (`claim`, `run:start`, …).
    pub name: String,
    /// The SSE data: `{"runId", "payload"}` for run-channel events, `{"payload": [...]}` for
    /// claims.
    pub data: Value,
    /// Whether `GET /events` shows it by default. Dashboard-only events (enqueue, lost,
    /// rollback, worker connect/disconnect) are shown with `GET /events?all=true`.
    pub public: bool,
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting in the queue.
    Queued,
    /// Handed to a worker by a claim.
    Claimed,
    /// `run:start` received.
    Started,
    /// `run:complete` received.
    Complete,
    /// Marked lost by the janitor.
    Lost,
}

impl RunStatus {
    /// Whether the run is finished.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::Lost)
    }
}

/// A run and everything workers reported about it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: String,
    pub plan: Value,
    pub queue: String,
    pub priority: i64,
    pub seq: u64,
    pub status: RunStatus,
    pub reason: Option<String>,
    pub error_type: Option<Value>,
    pub error_message: Option<Value>,
    pub final_state: Option<Value>,
    pub final_dataclip_id: Option<Value>,
    /// Step entries (step:start and step:complete fields merged), in start order.
    pub steps: Vec<Map<String, Value>>,
    pub logs: Vec<Value>,
    pub worker_name: Option<String>,
    pub worker_id: Option<String>,
    pub run_timeout_ms: u64,
    pub joined: bool,
    pub claim_deadline: Option<Instant>,
    pub claimed_at: Option<Instant>,
    pub started_at: Option<Instant>,
    pub times: BTreeMap<&'static str, u64>,
    /// Accepted payloads, to acknowledge exact replays (a worker re-sending unacknowledged
    /// events after a reconnect) without recording them twice.
    pub accepted: Accepted,
    /// Every run-channel frame received, in order, when [`crate::Config::record_wire`] is
    /// on: `{"event", "payload", "reply": "ok" | "error" | "none", "response"?}`.
    pub wire: Vec<Value>,
}

/// Payloads already accepted for a run, by what they did.
#[derive(Debug, Clone, Default)]
pub(crate) struct Accepted {
    pub run_start: Option<Value>,
    pub run_complete: Option<Value>,
    pub step_starts: HashMap<String, Value>,
    pub step_completes: HashMap<String, Value>,
    pub log_lines: HashSet<String>,
    pub replays: u64,
}

impl Run {
    /// The run as `GET /runs/:id` shows it.
    pub(crate) fn view(&self, dataclips: &HashMap<String, Value>) -> Value {
        let final_state = self.final_state.clone().or_else(|| {
            self.final_dataclip_id
                .as_ref()
                .and_then(Value::as_str)
                .and_then(|id| dataclips.get(id).cloned())
        });
        json!({
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "final_state": final_state,
            "final_dataclip_id": self.final_dataclip_id,
            "steps": self.steps,
            "logs": self.logs,
            "queue": self.queue,
            "priority": self.priority,
            "worker_name": self.worker_name,
            "worker_id": self.worker_id,
            "times": self.times,
            "replays": self.accepted.replays,
            "workflow": workflow_of(&self.plan),
            "wire": self.wire,
        })
    }

    /// A step entry by step id.
    pub(crate) fn step_mut(&mut self, step_id: &str) -> Option<&mut Map<String, Value>> {
        self.steps
            .iter_mut()
            .find(|s| s.get("step_id").and_then(Value::as_str) == Some(step_id))
    }

    fn stamp(&mut self, what: &'static str) {
        self.times.insert(what, unix_ms());
    }
}

/// A connected worker socket.
#[derive(Debug)]
pub(crate) struct WorkerConn {
    pub worker_id: Option<String>,
    pub remote: String,
    pub connected_at: u64,
    pub queue_join: Option<Value>,
    pub claims: u64,
    pub claimed_runs: u64,
    pub wake: Arc<Notify>,
}

/// One collection item.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub id: u64,
    pub value: Value,
    pub created: String,
    pub updated: String,
}

/// Everything behind the state lock.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub runs: HashMap<String, Run>,
    pub order: Vec<String>,
    pub queue: Queue,
    pub credentials: HashMap<String, Value>,
    pub dataclips: HashMap<String, Value>,
    pub collections: HashMap<String, BTreeMap<String, Item>>,
    pub workers: BTreeMap<u64, WorkerConn>,
    pub seq: u64,
}

/// The shared server state.
#[derive(Debug)]
pub(crate) struct App {
    pub config: Config,
    pub tokens: Option<RunTokens>,
    inner: Mutex<Inner>,
    faults: Mutex<FaultState>,
    pub events: broadcast::Sender<Event>,
    /// The recent events the dashboard starts with.
    pub history: History,
    conn_seq: AtomicU64,
}

/// Milliseconds since the epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A priority from a plan field or query value: `immediate`/`normal` or an integer.
pub(crate) fn parse_priority(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.as_str() {
            "immediate" => Some(crate::queue::PRIORITY_IMMEDIATE),
            "normal" => Some(PRIORITY_NORMAL),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

impl App {
    pub(crate) fn new(config: Config, tokens: Option<RunTokens>) -> Self {
        let (events, _) = broadcast::channel(65_536);
        let mut faults = FaultState::default();
        faults.apply(&config.faults);
        let mut inner = Inner::default();
        if config.seed {
            inner.seed();
        }
        Self {
            config,
            tokens,
            inner: Mutex::new(inner),
            faults: Mutex::new(faults),
            events,
            history: History::default(),
            conn_seq: AtomicU64::new(0),
        }
    }

    /// Locks the state. A poisoned lock (a panic while holding it) is recovered: the state
    /// is plain data and every mutation leaves it consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks the fault state.
    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Publishes an event; nobody listening is fine.
    pub(crate) fn emit(&self, name: &str, data: Value, public: bool) {
        self.history.record(unix_ms(), name, &data);
        let _ = self.events.send(Event {
            name: name.to_owned(),
            data,
            public,
        });
    }

    /// Publishes a run-channel event: `{"runId", "payload"}`.
    pub(crate) fn emit_run_event(&self, run_id: &str, name: &str, payload: &Value) {
        self.emit(name, json!({"runId": run_id, "payload": payload}), true);
    }

    /// Appends a frame to the run's `wire` record when recording is on. `reply` is `ok`,
    /// `error` (with the refusal's `response`) or `none` (not answered).
    pub(crate) fn record_wire(
        &self,
        run_id: &str,
        event: &str,
        payload: &Value,
        reply: &str,
        response: Option<&Value>,
    ) {
        if !self.config.record_wire {
            return;
        }
        let mut entry = json!({"event": event, "payload": payload, "reply": reply});
        if let (Some(response), Some(obj)) = (response, entry.as_object_mut()) {
            obj.insert("response".to_owned(), response.clone());
        }
        if let Some(run) = self.lock().runs.get_mut(run_id) {
            run.wire.push(entry);
        }
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.conn_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Enqueues a Lightning plan. The run id is the plan's `id` (generated if absent);
    /// inline `credential` objects on jobs are stored and replaced by their new id. Queue and
    /// priority come from the arguments, else from the plan's `queue`/`priority` fields, else
    /// `manual` / normal.
    ///
    /// # Errors
    /// A message when the plan is not an object or its id is already used.
    pub(crate) fn enqueue(
        &self,
        mut plan: Value,
        queue: Option<String>,
        priority: Option<i64>,
    ) -> Result<String, String> {
        let Some(obj) = plan.as_object_mut() else {
            return Err("the plan must be a JSON object".to_owned());
        };
        let id = match obj.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            Some(Value::Null) | None => {
                let id = uuid::Uuid::new_v4().to_string();
                obj.insert("id".to_owned(), Value::String(id.clone()));
                id
            }
            Some(_) => return Err("the plan id must be a string".to_owned()),
        };
        let queue = queue
            .or_else(|| obj.get("queue").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "manual".to_owned());
        let priority = priority
            .or_else(|| obj.get("priority").and_then(parse_priority))
            .unwrap_or(PRIORITY_NORMAL);
        let run_timeout_ms = obj
            .get("options")
            .and_then(|o| o.get("run_timeout_ms"))
            .and_then(Value::as_u64)
            .unwrap_or(self.config.default_run_timeout_ms);
        let mut inline = Vec::new();
        if let Some(Value::Array(jobs)) = obj.get_mut("jobs") {
            for job in jobs.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(cred @ Value::Object(_)) = job.get_mut("credential") {
                    let cred_id = uuid::Uuid::new_v4().to_string();
                    let body = std::mem::replace(cred, Value::String(cred_id.clone()));
                    inline.push((cred_id, body));
                }
            }
        }
        {
            let mut inner = self.lock();
            if inner.runs.contains_key(&id) {
                return Err(format!("a run with id {id} already exists"));
            }
            inner.credentials.extend(inline);
            inner.seq += 1;
            let seq = inner.seq;
            let mut run = Run {
                id: id.clone(),
                plan,
                queue: queue.clone(),
                priority,
                seq,
                status: RunStatus::Queued,
                reason: None,
                error_type: None,
                error_message: None,
                final_state: None,
                final_dataclip_id: None,
                steps: Vec::new(),
                logs: Vec::new(),
                worker_name: None,
                worker_id: None,
                run_timeout_ms,
                joined: false,
                claim_deadline: None,
                claimed_at: None,
                started_at: None,
                times: BTreeMap::new(),
                accepted: Accepted::default(),
                wire: Vec::new(),
            };
            run.stamp("enqueued_at");
            inner.queue.push(&queue, priority, seq, id.clone());
            inner.order.push(id.clone());
            inner.runs.insert(id.clone(), run);
        }
        self.emit(
            "run:enqueued",
            json!({"runId": id, "payload": {"queue": queue, "priority": priority}}),
            false,
        );
        Ok(id)
    }

    /// Wakes every connection that joined `worker:queue` (a debounced `work-available`).
    pub(crate) fn wake_workers(&self) {
        let inner = self.lock();
        for conn in inner.workers.values() {
            if conn.queue_join.is_some() {
                conn.wake.notify_one();
            }
        }
    }

    /// Claims up to `demand` runs for a connection; returns `{id, token}` pairs. Exactly-once:
    /// runs leave the queue under the lock.
    pub(crate) fn claim(
        &self,
        conn_id: u64,
        demand: usize,
        worker_name: Option<String>,
        queues: &[String],
    ) -> Vec<Value> {
        let deadline = Instant::now() + self.config.claim_join_timeout;
        let claimed: Vec<(String, u64)> = {
            let mut inner = self.lock();
            let ids = inner.queue.claim(queues, demand);
            let worker_id = inner.workers.get_mut(&conn_id).and_then(|w| {
                w.claims += 1;
                w.claimed_runs += ids.len() as u64;
                w.worker_id.clone()
            });
            ids.into_iter()
                .filter_map(|id| {
                    let run = inner.runs.get_mut(&id)?;
                    run.status = RunStatus::Claimed;
                    run.worker_name.clone_from(&worker_name);
                    run.worker_id.clone_from(&worker_id);
                    run.joined = false;
                    run.claim_deadline = Some(deadline);
                    run.claimed_at = Some(Instant::now());
                    run.stamp("claimed_at");
                    Some((id, run.run_timeout_ms))
                })
                .collect()
        };
        claimed
            .into_iter()
            .map(|(id, timeout_ms)| {
                let token = match &self.tokens {
                    Some(tokens) => {
                        let valid_for = timeout_ms / 1000 + self.config.lost_grace.as_secs();
                        tokens.sign(&id, valid_for).unwrap_or_else(|e| {
                            tracing::error!(run = %id, "cannot sign run token: {e}");
                            PLACEHOLDER_TOKEN.to_owned()
                        })
                    }
                    None => PLACEHOLDER_TOKEN.to_owned(),
                };
                json!({"id": id, "token": token})
            })
            .collect()
    }

    /// One janitor pass: claims not joined in time go back to the queue; runs silent for
    /// longer than `run_timeout_ms` + grace become `lost`.
    pub(crate) fn sweep(&self, now: Instant) {
        let grace = self.config.lost_grace;
        let mut rolled_back = Vec::new();
        let mut lost = Vec::new();
        {
            let mut inner = self.lock();
            let Inner { runs, queue, .. } = &mut *inner;
            for run in runs.values_mut() {
                match run.status {
                    RunStatus::Claimed
                        if !run.joined && run.claim_deadline.is_some_and(|d| now >= d) =>
                    {
                        run.status = RunStatus::Queued;
                        run.claim_deadline = None;
                        run.worker_name = None;
                        run.worker_id = None;
                        run.claimed_at = None;
                        queue.push(&run.queue, run.priority, run.seq, run.id.clone());
                        rolled_back.push(run.id.clone());
                    }
                    RunStatus::Claimed | RunStatus::Started => {
                        let since = run.started_at.or(run.claimed_at);
                        let limit = Duration::from_millis(run.run_timeout_ms) + grace;
                        if since.is_some_and(|t| now.duration_since(t) > limit) {
                            let error_type = if run.status == RunStatus::Started {
                                "LostAfterStart"
                            } else {
                                "LostAfterClaim"
                            };
                            run.status = RunStatus::Lost;
                            run.reason = Some("lost".to_owned());
                            run.error_type = Some(Value::String(error_type.to_owned()));
                            run.stamp("finished_at");
                            for step in &mut run.steps {
                                if step.get("reason").is_none_or(Value::is_null) {
                                    step.insert("reason".to_owned(), Value::from("lost"));
                                }
                            }
                            lost.push((run.id.clone(), error_type));
                        }
                    }
                    _ => {}
                }
            }
        }
        for id in rolled_back {
            tracing::info!(run = %id, "claim not followed by a run channel join: rolled back");
            self.emit("run:rollback", json!({"runId": id, "payload": {}}), false);
        }
        if !lost.is_empty() {
            for (id, error_type) in lost {
                tracing::warn!(run = %id, error_type, "run marked lost");
                self.emit(
                    "run:lost",
                    json!({"runId": id, "payload": {"error_type": error_type}}),
                    false,
                );
            }
        }
    }

    /// Empties the queue and runs (credentials, dataclips, collections and faults stay).
    pub(crate) fn reset(&self) {
        let mut inner = self.lock();
        inner.runs.clear();
        inner.order.clear();
        inner.queue.clear();
        drop(inner);
        self.history.clear();
        self.emit("reset", json!({"payload": {}}), false);
    }

    /// All runs in enqueue order, as `GET /runs` shows them.
    pub(crate) fn runs_view(&self) -> Value {
        self.runs_filtered(None, None)
    }

    /// Runs in enqueue order, only those with `status` if given, only the newest `limit` if
    /// given.
    pub(crate) fn runs_filtered(&self, status: Option<RunStatus>, limit: Option<usize>) -> Value {
        let inner = self.lock();
        let mut runs: Vec<Value> = inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.runs.get(id))
            .filter(|run| status.is_none_or(|s| run.status == s))
            .take(limit.unwrap_or(usize::MAX))
            .map(|run| run.view(&inner.dataclips))
            .collect();
        runs.reverse();
        Value::Array(runs)
    }

    /// One run as `GET /runs/:id` shows it.
    pub(crate) fn run_view(&self, id: &str) -> Option<Value> {
        let inner = self.lock();
        inner.runs.get(id).map(|run| run.view(&inner.dataclips))
    }

    /// Connected workers, for `GET /workers` and the dashboard.
    pub(crate) fn workers_view(&self) -> Value {
        let inner = self.lock();
        Value::Array(
            inner
                .workers
                .iter()
                .map(|(id, w)| {
                    json!({
                        "connection": id,
                        "worker_id": w.worker_id,
                        "remote": w.remote,
                        "connected_at": w.connected_at,
                        "queue_join": w.queue_join,
                        "claims": w.claims,
                        "claimed_runs": w.claimed_runs,
                    })
                })
                .collect(),
        )
    }

    /// Number of queued runs.
    pub(crate) fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Stores a credential.
    pub(crate) fn add_credential(&self, id: String, body: Value) {
        self.lock().credentials.insert(id, body);
    }

    /// Stores a dataclip.
    pub(crate) fn add_dataclip(&self, id: String, body: Value) {
        self.lock().dataclips.insert(id, body);
    }
}

impl Inner {
    fn seed(&mut self) {
        self.credentials
            .insert("c".to_owned(), json!({"user": "user "}));
        self.dataclips.insert("d".to_owned(), json!({"data": {}}));
    }
}

impl Run {
    /// Marks the run started.
    pub(crate) fn mark_started(&mut self) {
        self.status = RunStatus::Started;
        self.started_at = Some(Instant::now());
        self.stamp("started_at");
    }

    /// Stores a log line unless the very same line was stored before (a replay).
    pub(crate) fn append_log(&mut self, line: &Value) {
        if self.accepted.log_lines.insert(line.to_string()) {
            self.logs.push(line.clone());
        } else {
            self.accepted.replays += 1;
        }
    }

    /// Marks the run complete.
    pub(crate) fn mark_complete(&mut self) {
        self.status = RunStatus::Complete;
        self.stamp("finished_at");
    }
}

/// A plan's shape for drawing: `{"nodes": [{"id", "name", "kind": "trigger"|"job"}],
/// "edges": [{"source", "target", "condition", "enabled"}]}` (shown as `workflow` in run
/// views, which the dashboard draws).
fn workflow_of(plan: &Value) -> Value {
    let list = |key: &str| plan.get(key).and_then(Value::as_array).cloned();
    let mut nodes = Vec::new();
    for (key, kind) in [("triggers", "trigger"), ("jobs", "job")] {
        for node in list(key).unwrap_or_default() {
            let Some(id) = node.get("id").and_then(Value::as_str) else {
                continue;
            };
            let name = node
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| node.get("type").and_then(Value::as_str))
                .unwrap_or(id);
            nodes.push(json!({"id": id, "name": name, "kind": kind}));
        }
    }
    let edges: Vec<Value> = list("edges")
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let source = e
                .get("source_trigger_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| e.get("source_job_id").and_then(Value::as_str))?;
            let target = e.get("target_job_id").and_then(Value::as_str)?;
            Some(json!({
                "source": source,
                "target": target,
                "condition": e.get("condition").cloned().unwrap_or(Value::Null),
                "enabled": e.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            }))
        })
        .collect();
    json!({"nodes": nodes, "edges": edges})
}
