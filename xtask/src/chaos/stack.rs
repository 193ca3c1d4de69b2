//! One scenario's world: a mock, its event tracker and one or more workers, the runs the
//! scenario enqueued with what each should end as, and the verdict: runs completed with the
//! right reason, wrong, lost, executed twice, worker crashes and the worker's RSS.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::time::Instant;

use super::Env;
use super::devapi::{DevApi, RunRecord};
use super::events::Tracker;
use super::harness::{self, Proc};
use super::jobs;
use super::report::{Row, Rss};

/// How a run must end.
#[derive(Debug, Clone)]
pub struct Expect {
    /// Accepted reasons (`success`, `fail`, `crash`, `kill`, `exception`).
    pub reasons: &'static [&'static str],
    /// The error type, when one is required.
    pub error_type: Option<&'static str>,
    /// The final `data` a successful run must leave (as [`RunRecord::final_data`] shows it).
    pub data: Option<Value>,
    /// At least this many log lines recorded.
    pub min_logs: usize,
    /// Whether Lightning must have accepted `run:start` (not for a run that ends before it
    /// starts: a credential or dataclip that cannot be loaded).
    pub needs_start: bool,
}

impl Expect {
    /// Success with this final data.
    pub fn success(data: Value) -> Self {
        Self {
            reasons: &["success"],
            error_type: None,
            data: Some(data),
            min_logs: 0,
            needs_start: true,
        }
    }

    /// A failure with this reason and error type.
    pub fn failure(reason: &'static [&'static str], error_type: &'static str) -> Self {
        Self {
            reasons: reason,
            error_type: Some(error_type),
            data: None,
            min_logs: 0,
            needs_start: true,
        }
    }

    /// An `exception` with this error type that ends the run before it starts.
    pub fn before_start(error_type: &'static str) -> Self {
        Self {
            needs_start: false,
            ..Self::failure(&["exception"], error_type)
        }
    }

    /// Why `rec` (a complete run) does not meet the expectation, if it does not.
    fn mismatch(&self, rec: &RunRecord) -> Option<String> {
        let reason = rec.reason.as_deref().unwrap_or("none");
        if !self.reasons.contains(&reason) {
            return Some(format!(
                "reason {reason} ({}: {}), expected {}",
                rec.error_type.as_deref().unwrap_or("-"),
                rec.error_message.as_deref().unwrap_or("-"),
                self.reasons.join("/")
            ));
        }
        if let Some(t) = self.error_type
            && rec.error_type.as_deref() != Some(t)
        {
            return Some(format!("error type {:?}, expected {t}", rec.error_type));
        }
        if self.needs_start && !rec.started {
            return Some("completed without an accepted run:start".into());
        }
        if (reason == "success" && rec.steps == 0) || rec.steps_complete < rec.steps {
            return Some(format!(
                "{} of {} steps completed",
                rec.steps_complete, rec.steps
            ));
        }
        if reason == "success"
            && let Some(data) = &self.data
            && &rec.final_data != data
        {
            return Some(format!("final data {}, expected {data}", rec.final_data));
        }
        if rec.logs < self.min_logs {
            return Some(format!(
                "{} log lines, expected {}",
                rec.logs, self.min_logs
            ));
        }
        None
    }
}

struct Tracked {
    id: String,
    expect: Expect,
    record: Option<RunRecord>,
}

/// A mock, its workers and the scenario's runs.
pub struct Stack<'e> {
    pub env: &'e Env,
    pub dir: PathBuf,
    pub mock: Proc,
    pub api: DevApi,
    pub tracker: Tracker,
    pub workers: Vec<Proc>,
    runs: Vec<Tracked>,
    /// Worker RSS (kB) after the warm-up run: what "after" is compared with.
    pub baseline: Option<u64>,
    /// Peak RSS (kB) noted before the worker was stopped on purpose.
    pub peak: Option<u64>,
    /// Workers expected to exit (by name), with the exit code they must exit with.
    pub expected_exits: Vec<(String, i32)>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
    started: Instant,
}

impl<'e> Stack<'e> {
    /// Starts a mock with `mock_args` and a worker with `worker_args`, waits until the worker
    /// joined the queue (unless `wait_ready` is false) and warms it up with one run.
    pub async fn start(
        env: &'e Env,
        name: &str,
        mock_args: &[String],
        worker_args: &[String],
    ) -> Result<Self> {
        let mut stack = Self::start_cold(env, name, mock_args, worker_args).await?;
        stack.wait_ready(0).await?;
        stack.warm_up().await?;
        Ok(stack)
    }

    /// Starts a mock and a worker without waiting for the worker to join or warming it up.
    pub async fn start_cold(
        env: &'e Env,
        name: &str,
        mock_args: &[String],
        worker_args: &[String],
    ) -> Result<Self> {
        let dir = env.logs.join(name);
        let mock = harness::start_mock(&env.bins, &dir, mock_args).await?;
        let api = DevApi::new(mock.port)?;
        let tracker = Tracker::start(api.base()).await?;
        let mut stack = Self {
            env,
            dir,
            mock,
            api,
            tracker,
            workers: Vec::new(),
            runs: Vec::new(),
            baseline: None,
            peak: None,
            expected_exits: Vec::new(),
            failures: Vec::new(),
            notes: Vec::new(),
            started: Instant::now(),
        };
        stack.add_worker("worker", worker_args).await?;
        Ok(stack)
    }

    /// Starts another worker against the same mock.
    pub async fn add_worker(&mut self, name: &str, args: &[String]) -> Result<()> {
        let w =
            harness::start_worker(&self.env.bins, &self.dir, name, self.mock.port, args).await?;
        self.workers.push(w);
        Ok(())
    }

    /// The first worker's pid.
    pub fn worker_pid(&self) -> u32 {
        self.workers.first().map_or(0, |w| w.pid)
    }

    /// Waits until worker `i` answers `/readyz` (joined to `worker:queue`).
    pub async fn wait_ready(&mut self, i: usize) -> Result<()> {
        let within = self.env.secs(30);
        let worker = self.workers.get_mut(i).context("no such worker")?;
        harness::wait_http(worker, "/readyz", within).await
    }

    /// One run that is not counted, so the worker's RSS baseline includes what every run
    /// allocates once (thread pools, the engine child, buffers).
    pub async fn warm_up(&mut self) -> Result<()> {
        let id = self.api.enqueue(&jobs::batch(1, 1)).await?;
        let deadline = Instant::now() + self.env.secs(30);
        loop {
            if self.tracker.maybe_final(&id) && self.api.run(&id).await?.is_final() {
                break;
            }
            if Instant::now() >= deadline {
                bail!("the warm-up run {id} did not finish");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pid = self.worker_pid();
        self.baseline = harness::rss_kb(pid);
        Ok(())
    }

    /// Enqueues `plan`, to end as `expect`.
    pub async fn enqueue(&mut self, plan: &Value, expect: Expect) -> Result<String> {
        self.enqueue_to(plan, "", expect).await
    }

    /// Enqueues `plan` with the query `query` (`queue=…&priority=…`), to end as `expect`.
    pub async fn enqueue_to(
        &mut self,
        plan: &Value,
        query: &str,
        expect: Expect,
    ) -> Result<String> {
        let id = self.api.enqueue_to(plan, query).await?;
        self.runs.push(Tracked {
            id: id.clone(),
            expect,
            record: None,
        });
        Ok(id)
    }

    /// Ids of the runs enqueued so far.
    pub fn ids(&self) -> Vec<String> {
        self.runs.iter().map(|r| r.id.clone()).collect()
    }

    /// Waits until every run enqueued so far is final in the mock, or `within` passed (what
    /// is not final then counts as lost).
    pub async fn wait_final(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        let mut next_sweep = Instant::now() + Duration::from_secs(3);
        loop {
            let sweep = Instant::now() >= next_sweep;
            if sweep {
                next_sweep = Instant::now() + Duration::from_secs(3);
            }
            let mut pending = 0;
            let mut swept = 0;
            for run in self.runs.iter_mut().filter(|r| r.record.is_none()) {
                // The event stream says when to look; a sweep of a few covers a stream that
                // lagged behind.
                let hinted = self.tracker.maybe_final(&run.id);
                let look = hinted || (sweep && swept < 20);
                if look && !hinted {
                    swept += 1;
                }
                if look {
                    let rec = self.api.run(&run.id).await?;
                    if rec.is_final() {
                        run.record = Some(rec);
                        continue;
                    }
                }
                pending += 1;
            }
            if pending == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                for run in self.runs.iter_mut().filter(|r| r.record.is_none()) {
                    run.record = Some(self.api.run(&run.id).await?);
                }
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every run enqueued so far was claimed and started (or `within` passed).
    pub async fn wait_started(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while !self.runs.iter().all(|r| self.tracker.started(&r.id)) {
            if Instant::now() >= deadline {
                bail!("runs did not start within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until some run enqueued so far has started and is not finished.
    pub async fn wait_in_flight(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let busy = self
                .runs
                .iter()
                .any(|r| self.tracker.started(&r.id) && !self.tracker.maybe_final(&r.id));
            if busy {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("no run was in flight within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The records of the runs read so far (by [`Stack::wait_final`]).
    pub fn records(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter_map(|r| r.record.as_ref())
    }

    /// The verdict. Worker processes still running are left running (dropped with the stack).
    pub async fn finish(mut self, name: &str) -> Row {
        let mut row = Row::new(name);
        let tolerance = self.env.rss_tolerance;
        for run in &self.runs {
            row.enqueued += 1;
            let seen = self.tracker.get(&run.id);
            if seen.starts.len() > 1 {
                row.dup += 1;
                row.problem(format!(
                    "run {}: executed {} times ({} claims)",
                    short(&run.id),
                    seen.starts.len(),
                    seen.claims
                ));
            }
            match &run.record {
                Some(rec) if rec.status == "complete" => match run.expect.mismatch(rec) {
                    None => row.ok += 1,
                    Some(why) => {
                        row.wrong += 1;
                        row.problem(format!("run {}: {why}", short(&run.id)));
                    }
                },
                other => {
                    row.lost += 1;
                    let status = other.as_ref().map_or("unknown", |r| r.status.as_str());
                    row.problem(format!("run {}: lost (status {status})", short(&run.id)));
                }
            }
        }
        let expected = std::mem::take(&mut self.expected_exits);
        for w in &mut self.workers {
            if w.alive() {
                continue;
            }
            let code = w.exited.and_then(|s| s.code());
            match expected.iter().find(|(n, _)| *n == w.name) {
                Some((_, want)) if code == Some(*want) => {}
                _ => {
                    row.crashes += 1;
                    row.problem(format!(
                        "{} exited unexpectedly ({:?}); last lines:\n{}",
                        w.name,
                        w.exited,
                        w.log_tail(5)
                    ));
                }
            }
        }
        row.rss = self.rss(tolerance).await;
        if let Some(rss) = &row.rss
            && let Some(after) = rss.after
            && after as f64 > rss.before as f64 * (1.0 + tolerance)
        {
            row.problem(format!(
                "worker RSS not back within {:.0}%: {:.1} → {:.1} MB",
                tolerance * 100.0,
                mb(rss.before),
                mb(after)
            ));
        }
        for f in self.failures.drain(..) {
            row.problem(f);
        }
        row.notes = std::mem::take(&mut self.notes);
        row.secs = self.started.elapsed().as_secs_f64();
        row.logs = Some(self.dir.clone());
        row
    }

    async fn rss(&mut self, tolerance: f64) -> Option<Rss> {
        let before = self.baseline?;
        let settle = self.env.secs(10);
        let worker = self.workers.first_mut()?;
        let pid = worker.pid;
        let (peak, after) = if worker.alive() {
            let peak = harness::hwm_kb(pid).unwrap_or(0);
            let after = harness::settled_rss(pid, before, tolerance, settle).await;
            (peak, Some(after))
        } else {
            (self.peak.unwrap_or(0), None)
        };
        Some(Rss {
            before,
            peak,
            after,
        })
    }
}

/// The first 8 characters of a run id.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// kB as MB.
pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}
