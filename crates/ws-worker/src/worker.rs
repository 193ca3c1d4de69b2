//! The supervisor: owns the socket, the `worker:queue` channel, the workloops and their claims,
//! starts runs, and drains on shutdown (§3.1–§3.3, §6.3, §6.5, §6.6).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, watch};

use crate::WorkerError;
use crate::auth::{RunTokenVerifier, worker_id, worker_token};
use crate::channel::{Channel, ChannelError};
use crate::config::Config;
use crate::executor::Executor;
use crate::metrics::Metrics;
use crate::run::{self, ClaimedRun, RunContext};
use crate::socket::{Socket, SocketConfig};
use crate::workloop::{Backoff, Slots, Workloop};

/// The result of one claim attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Not attempted: no free slot, no queue channel, or draining.
    Abort,
    /// Lightning had no run.
    Empty,
    /// Error reply or timeout.
    Failed,
    /// This many runs started.
    Got(usize),
}

/// State shared by the worker's tasks and the HTTP server.
pub struct Shared {
    pub config: Arc<Config>,
    pub worker_id: String,
    pub socket: Socket,
    pub queue: Arc<Channel>,
    pub loops: Vec<Arc<Workloop>>,
    pub metrics: Arc<Metrics>,
    run_ctx: Arc<RunContext>,
    verifier: Option<RunTokenVerifier>,
    ready: watch::Sender<bool>,
    draining: AtomicBool,
    changed: Notify,
    exit: watch::Sender<Option<i32>>,
    shutdown_started: watch::Sender<bool>,
    /// The `worker:queue` manager, awaited by the drain so its last words are logged.
    queue_task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// A running worker.
#[derive(Clone)]
pub struct Worker {
    pub shared: Arc<Shared>,
}

impl Worker {
    /// Starts the socket, the queue manager and the workloops. Call after the HTTP port is
    /// bound, so it listens before the first claim.
    pub fn start(config: Config, executor: Arc<dyn Executor>) -> Result<Worker, WorkerError> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let id = worker_id();
        let token = worker_token(&config.secret, &id)?;
        let verifier = match &config.lightning_public_key {
            Some(key) => Some(RunTokenVerifier::from_base64_pem(key)?),
            None => {
                tracing::info!("no lightning public key: skipping run token validation");
                None
            }
        };
        let socket = Socket::start(
            SocketConfig {
                base_url: config.lightning.clone(),
                token,
                worker_version: env!("CARGO_PKG_VERSION").to_string(),
                ca_file: config.ca_file.clone(),
                proxy: config.proxy_for_lightning(),
                heartbeat: Duration::from_secs(30),
                reconnect_step: Duration::from_secs(1),
                max_message_bytes: config.max_message_bytes,
            },
            metrics.clone(),
        );
        let mut queues = Map::new();
        for w in &config.workloops {
            queues.insert(w.key(), json!(w.capacity));
        }
        let queue = Arc::new(Channel::new(
            socket.clone(),
            "worker:queue",
            json!({ "capacity": config.capacity(), "queues": queues }),
            config.claim_timeout,
        ));
        let loops: Vec<Arc<Workloop>> = config
            .workloops
            .iter()
            .enumerate()
            .map(|(i, s)| Arc::new(Workloop::new(i, s.clone())))
            .collect();
        let run_ctx = Arc::new(RunContext {
            config: config.clone(),
            socket: socket.clone(),
            executor,
            metrics: metrics.clone(),
        });
        let shared = Arc::new(Shared {
            config,
            worker_id: id,
            socket,
            queue,
            loops,
            metrics,
            run_ctx,
            verifier,
            ready: watch::channel(false).0,
            draining: AtomicBool::new(false),
            changed: Notify::new(),
            exit: watch::channel(None).0,
            shutdown_started: watch::channel(false).0,
            queue_task: std::sync::Mutex::new(None),
        });
        tracing::info!(worker_id = %shared.worker_id, lightning = %shared.config.lightning, capacity = shared.config.capacity(), "worker starting");
        let queue_task = tokio::spawn(queue_manager(shared.clone()));
        if let Ok(mut slot) = shared.queue_task.lock() {
            *slot = Some(queue_task);
        }
        if shared.config.auto_loop {
            for wl in &shared.loops {
                tokio::spawn(workloop_task(shared.clone(), wl.clone()));
            }
        }
        Ok(Worker { shared })
    }

    /// Begins the drain (idempotent): no more claims, finish runs and in-flight claims, leave
    /// the queue, close the socket, then report `code` from [`Worker::wait`].
    pub fn shutdown(&self, code: i32) {
        let s = self.shared.clone();
        if s.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        s.shutdown_started.send_replace(true);
        tracing::info!("shutting down: draining active runs");
        for wl in &s.loops {
            wl.wake.notify_one();
        }
        tokio::spawn(async move {
            loop {
                let notified = s.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if s.loops.iter().all(|w| w.slots().idle()) {
                    break;
                }
                notified.await;
            }
            s.ready.send_replace(false);
            s.queue.leave();
            s.socket.close();
            // The queue manager sees the socket close and ends; a manager still waiting to
            // reconnect is not waited for long.
            let queue_task = s.queue_task.lock().ok().and_then(|mut t| t.take());
            if let Some(task) = queue_task {
                let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
            }
            tracing::info!("drained: exiting");
            s.exit.send_replace(Some(code));
        });
    }

    /// Waits for the drain to finish; returns the exit code.
    pub async fn wait(&self) -> i32 {
        let mut rx = self.shared.exit.subscribe();
        loop {
            if let Some(code) = *rx.borrow_and_update() {
                return code;
            }
            if rx.changed().await.is_err() {
                return 1;
            }
        }
    }

    /// Resolves once a shutdown has begun (the HTTP server closes then).
    pub async fn shutdown_started(&self) {
        let mut rx = self.shared.shutdown_started.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    /// Whether the worker is joined to `worker:queue` and not draining.
    pub fn ready(&self) -> bool {
        *self.shared.ready.borrow() && !self.shared.draining.load(Ordering::SeqCst)
    }

    /// One claim on every workloop with a free slot (POST /claim); true if any got a run.
    pub async fn claim_all(&self) -> bool {
        let attempts = self
            .shared
            .loops
            .iter()
            .filter(|w| w.slots().free() > 0)
            .map(|w| claim(self.shared.clone(), w.clone()));
        futures_util::future::join_all(attempts)
            .await
            .iter()
            .any(|o| matches!(o, ClaimOutcome::Got(n) if *n > 0))
    }

    /// Prometheus text for `/metrics`.
    pub fn metrics_text(&self) -> String {
        let slots: Vec<_> = self.shared.loops.iter().map(|w| w.report()).collect();
        self.shared.metrics.render(&slots, self.ready())
    }
}

async fn queue_manager(s: Arc<Shared>) {
    let mut failures = 0u32;
    loop {
        if s.draining.load(Ordering::SeqCst) {
            return;
        }
        match s.queue.ensure_joined().await {
            Ok((_, epoch)) => {
                failures = 0;
                tracing::info!("joined worker:queue");
                s.ready.send_replace(true);
                if !s.config.auto_loop {
                    tracing::info!("auto-claiming is off (--no-loop): POST /claim to claim a run");
                }
                for wl in &s.loops {
                    wl.wake.notify_one();
                }
                let mut state = s.socket.watch();
                loop {
                    for frame in s.queue.drain_pushes() {
                        if frame.event == "work-available" {
                            on_work_available(&s);
                        }
                    }
                    if s.queue.joined().is_none() {
                        break;
                    }
                    let st = *state.borrow_and_update();
                    if !st.connected || st.epoch != epoch {
                        break;
                    }
                    tokio::select! {
                        r = state.changed() => if r.is_err() { return },
                        _ = s.queue.push_arrived() => {}
                    }
                }
                s.ready.send_replace(false);
                if s.draining.load(Ordering::SeqCst) {
                    // The drain left the queue and closed the socket: nothing was lost.
                    tracing::info!("left worker:queue");
                    return;
                }
                tracing::warn!("left worker:queue (connection lost); will rejoin");
            }
            Err(ChannelError::Closed) => return,
            Err(e) => {
                failures += 1;
                // The phoenix client's rejoin schedule: 1 s, 2 s, 5 s, then every 10 s.
                let delay = match failures {
                    1 => 1,
                    2 => 2,
                    3 => 5,
                    _ => 10,
                };
                tracing::error!("failed to join worker:queue: {e}; retrying in {delay}s");
                tokio::time::sleep(Duration::from_secs(delay)).await;
            }
        }
    }
}

fn on_work_available(s: &Arc<Shared>) {
    if s.draining.load(Ordering::SeqCst) {
        return;
    }
    for wl in &s.loops {
        if wl.slots().free() > 0 {
            tokio::spawn(claim(s.clone(), wl.clone()));
        }
    }
}

async fn workloop_task(s: Arc<Shared>, wl: Arc<Workloop>) {
    let mut backoff = Backoff::new(s.config.backoff_min, s.config.backoff_max);
    loop {
        if s.draining.load(Ordering::SeqCst) {
            return;
        }
        let delay = match claim(s.clone(), wl.clone()).await {
            ClaimOutcome::Abort => {
                wl.wake.notified().await;
                backoff.reset();
                continue;
            }
            ClaimOutcome::Got(_) => {
                backoff.reset();
                s.config.backoff_min
            }
            ClaimOutcome::Empty | ClaimOutcome::Failed => backoff.next_delay(),
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wl.wake.notified() => backoff.reset(),
        }
    }
}

/// One claim for `wl`, counting it as an open claim until the reply settles it.
pub async fn claim(s: Arc<Shared>, wl: Arc<Workloop>) -> ClaimOutcome {
    if s.draining.load(Ordering::SeqCst) || s.queue.joined().is_none() {
        return ClaimOutcome::Abort;
    }
    if !wl.with_slots(Slots::open_claim) {
        return ClaimOutcome::Abort;
    }
    let claimed_at = Instant::now();
    s.metrics.inc_claims();
    let payload =
        json!({ "demand": 1, "worker_name": s.config.worker_name, "queues": wl.spec.queues });
    let result = s
        .queue
        .request_once("claim", payload, s.config.claim_timeout)
        .await;
    let runs: Vec<ClaimedRun> = match result {
        Ok(reply) if reply.is_ok() => reply
            .json()
            .and_then(|v| v.get("runs"))
            .and_then(Value::as_array)
            .map(|runs| {
                runs.iter()
                    .filter_map(|r| {
                        Some(ClaimedRun {
                            id: r.get("id")?.as_str()?.to_string(),
                            token: r
                                .get("token")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Ok(reply) => {
            tracing::warn!(workloop = %wl.spec.key(), "claim refused: {}", reply.response_text());
            settle(&s, &wl, 0);
            s.metrics.inc_claims_failed();
            return ClaimOutcome::Failed;
        }
        Err(e) => {
            tracing::debug!(workloop = %wl.spec.key(), "claim failed: {e}");
            settle(&s, &wl, 0);
            s.metrics.inc_claims_failed();
            return ClaimOutcome::Failed;
        }
    };
    let mut accepted = Vec::new();
    let mut bad_token = false;
    for r in runs {
        if let Some(v) = &s.verifier
            && let Err(e) = v.verify(&r.token)
        {
            tracing::error!(run_id = %r.id, "Error validating run token: {e}; refusing the run and shutting down");
            bad_token = true;
            break;
        }
        accepted.push(r);
    }
    settle(&s, &wl, accepted.len());
    s.metrics.add_claimed_runs(accepted.len() as u64);
    let n = accepted.len();
    if n == 0 && !bad_token {
        s.metrics.inc_claims_empty();
    }
    for r in accepted {
        tracing::info!(run_id = %r.id, workloop = %wl.spec.key(), "claimed run");
        let s2 = s.clone();
        let wl2 = wl.clone();
        tokio::spawn(async move {
            // A panicking run must still free its slot, or the drain would never end.
            let reason = match tokio::spawn(run::execute(s2.run_ctx.clone(), r)).await {
                Ok(reason) => reason,
                Err(e) => {
                    tracing::error!("run task failed: {e}");
                    None
                }
            };
            wl2.with_slots(Slots::finish_run);
            // Everything the run held is dropped now: when the workloop has nothing left
            // running, hand the freed memory back (trimming after every run of a burst costs
            // CPU on the claim path and gives back pages the next run takes again).
            if wl2.slots().active == 0 {
                crate::memory::release();
            }
            s2.metrics
                .run_finished(reason.as_deref().unwrap_or("lost"), claimed_at.elapsed());
            s2.changed.notify_waiters();
            if !s2.draining.load(Ordering::SeqCst) {
                wl2.wake.notify_one();
            }
        });
    }
    if bad_token {
        Worker { shared: s.clone() }.shutdown(1);
        return ClaimOutcome::Abort;
    }
    if n == 0 {
        ClaimOutcome::Empty
    } else {
        ClaimOutcome::Got(n)
    }
}

fn settle(s: &Shared, wl: &Workloop, runs: usize) {
    wl.with_slots(|slots| slots.settle_claim(runs));
    s.changed.notify_waiters();
}
