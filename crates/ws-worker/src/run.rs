//! One run's lifecycle (§3.4–§3.14): join `run:<id>`, `fetch:plan`, `fetch:dataclip`, start the
//! engine, map its events to `run:start` / `step:*` / logs / `run:complete`, send them through
//! the run's [`Outbox`] in strict order, leave the channel.
//!
//! Two tasks per run: the *producer* turns engine events into wire events and appends them to
//! the outbox without ever waiting for the socket; the *sender* pushes the outbox head, waits
//! for the acknowledgement, and survives reconnects by rejoining and re-sending.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::channel::Channel;
use crate::config::Config;
use crate::executor::{Collections, Executor, Resolvers, RunOptions, RunRequest};
use crate::metrics::Metrics;
use crate::outbox::{Outbox, Spill};
use crate::redact::Redactor;
use crate::socket::Socket;
use mapper::Mapper;
use resolvers::{LightningResolvers, spill_dir};

mod lifetime;
mod mapper;
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
    let (channel, plan) = join_and_fetch_plan(&ctx, &claimed).await?;
    let (run_options, output_dataclips) = run_options(&plan, &ctx.config);

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
    match fetch_input(&ctx, &channel, dataclip_id.as_deref()).await {
        Err(message) => {
            tracing::error!("{message}");
            mapper.error_completion(&shared, "exception", "DataClipError", &message);
        }
        Ok(input) => {
            let run = Execution {
                ctx: &ctx,
                claimed: &claimed,
                channel: &channel,
                redactor: &redactor,
            };
            run.engine(plan, input, run_options, &mut mapper, &shared)
                .await;
        }
    }
    finish(&ctx, &channel, sender, &shared, &redactor, mapper).await
}

/// Joins `run:<id>` within the claim's lifetime and fetches the plan; `None` (logged) when the
/// run cannot be had, which loses it.
async fn join_and_fetch_plan(
    ctx: &Arc<RunContext>,
    claimed: &ClaimedRun,
) -> Option<(Arc<Channel>, Value)> {
    let cfg = &ctx.config;
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
        .request_with("fetch:plan", json!({}), msg_timeout, sender::patience(ctx))
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
    Some((channel, plan))
}

/// The run's options: the plan's `options` over the worker's configuration; and whether step
/// outputs are sent as dataclips.
fn run_options(plan: &Value, cfg: &Config) -> (RunOptions, bool) {
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
    (run_options, output_dataclips)
}

/// The input dataclip's bytes, if the plan names one.
async fn fetch_input(
    ctx: &Arc<RunContext>,
    channel: &Channel,
    dataclip_id: Option<&str>,
) -> Result<Option<Vec<u8>>, String> {
    let msg_timeout = ctx.config.message_timeout;
    match dataclip_id {
        None => Ok(None),
        Some(id) => match channel
            .request_with(
                "fetch:dataclip",
                json!({ "id": id }),
                msg_timeout,
                sender::patience(ctx),
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
    }
}

/// What a run's engine phase needs of the run.
struct Execution<'a> {
    ctx: &'a Arc<RunContext>,
    claimed: &'a ClaimedRun,
    channel: &'a Arc<Channel>,
    redactor: &'a Redactor,
}

impl Execution<'_> {
    /// Hands the plan to the executor and maps its events until the run completes.
    async fn engine(
        &self,
        plan: Value,
        input: Option<Vec<u8>>,
        run_options: RunOptions,
        mapper: &mut Mapper,
        shared: &Shared,
    ) {
        let (ctx, claimed, channel, redactor) =
            (self.ctx, self.claimed, self.channel, self.redactor);
        let cfg = &ctx.config;
        let msg_timeout = cfg.message_timeout;
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
            patience: sender::patience(ctx),
            redactor: redactor.clone(),
        });
        let mut events = ctx.executor.execute(request, resolvers);
        let mut finished = false;
        while let Some(event) = events.recv().await {
            if mapper.on_event(event, shared) {
                finished = true;
                break;
            }
        }
        if !finished {
            mapper.error_completion(
                shared,
                "exception",
                "ExecutionError",
                "the engine stopped without completing the run",
            );
        }
    }
}

/// After the last event: waits for the sender, leaves the channel, books the outbox figures
/// and logs the outcome; the reason sent, or `None` if `run:complete` was never acknowledged.
async fn finish(
    ctx: &Arc<RunContext>,
    channel: &Channel,
    sender: tokio::task::JoinHandle<bool>,
    shared: &Shared,
    redactor: &Redactor,
    mapper: Mapper,
) -> Option<String> {
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
