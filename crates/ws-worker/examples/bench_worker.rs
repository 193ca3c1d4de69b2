//! Worker benchmark: 200 trivial runs at capacity 5 against an in-process lightning-mock.
//! Prints runs/s, claim-to-complete latency (median, p90), idle/peak RSS and the CPU time each
//! run cost the worker process, its templates' forked runs and pooled children (from `/proc`)
//! and the in-process mock, each the median of repeated rounds.
//!
//! `BENCH_CAPACITY` (comma-separated, default `5`) runs every mode at each capacity: capacity
//! 1 measures one run at a time (sequential latency), capacity 5 the burst. `BENCH_BACKOFF`
//! (default `0.01/0.05`) is the worker's `--backoff`.
//!
//! The worker is the release `ws-worker` binary (next to this example, built by
//! `cargo build --release -p openfn-ws-worker`) when present, so RSS is the worker's alone;
//! otherwise it runs in-process and RSS includes the mock.
//!
//! Modes: the mock engine (`--mock`), the real engine on plain JavaScript (no adaptor), and the
//! real engine on the real `@openfn/language-common` (pinned in tests/adaptor-versions;
//! installed once into a scratch repo before the rounds) with warm templates (`--prewarm`, each
//! run forked from the template) and without (`--templates off`, each run loads the adaptor in
//! a pooled child).
//!
//! `BENCH_MODES` (comma-separated parts of mode names, e.g. `warm,mock`) picks the modes;
//! `wasm` adds the wasm tier (`--sandbox wasm`, a worker built with `--features wasm`).
//!
//! With `BENCH_KIT_DIR` naming a built OpenFn/kit checkout, it then runs both workers, ours
//! (warm templates) and the kit's, one after the other against the kit's own TypeScript
//! lightning-mock (`bench_kit_mock.mjs`, `KIT_RUNS` runs, default 40, capacity 5 each) and
//! prints the latency and throughput ratios.
//!
//! Run: `cargo xtask bench worker` (builds the release binaries first)

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use openfn_lightning_mock::{Config as MockConfig, Server, ServerHandle};
use openfn_ws_worker::config::{Args, Config};
use openfn_ws_worker::{MockExecutor, Worker};
use serde_json::{Value, json};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

const RUNS: usize = 200;

/// What the runs execute and how the worker is started.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `--mock`: no engine.
    Mock,
    /// Real engine, plain JavaScript, no adaptor.
    Js,
    /// Real engine, `fn(s => s)` on language-common; `true` = warm templates.
    Common(bool),
    /// Real engine, `fn(s => s)` on language-common, `--sandbox wasm` (a worker built with the
    /// `wasm` feature; only when `BENCH_MODES` names `wasm`).
    Wasm,
}
const ROUNDS: usize = 3;

fn plan(i: usize, mode: Mode) -> Value {
    let (adaptor, body) = match mode {
        Mode::Js => (
            String::new(),
            format!("export default [s => ({{ data: {{ i: {i} }} }})]"),
        ),
        Mode::Mock => (
            "@openfn/language-common@1.0.0".to_string(),
            json!({"data": {"i": i}}).to_string(),
        ),
        Mode::Common(_) | Mode::Wasm => (
            adaptor_versions::spec(adaptor_versions::COMMON),
            format!("fn(s => ({{ data: {{ i: {i} }} }}));"),
        ),
    };
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j1", "adaptor": adaptor, "body": body}],
        "edges": [{"id": "e1", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always", "enabled": true}],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

fn rss_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// RSS of the worker and all its descendants (templates, forked runs, pooled children), in
/// kB. Children are read from `/proc/<pid>/task/<tid>/children`, not from a scan of `/proc`:
/// the sampler runs during the burst and must not take the CPU being measured. Only the
/// worker's threads are listed (it starts templates and children from any of them); the
/// processes below it start theirs from their main thread, and listing a short-lived run's
/// threads would leave the kernel /proc entries to flush when it is reaped.
fn tree_rss_kb(pid: u32) -> u64 {
    let mut total = rss_kb(pid, "VmRSS:");
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return total;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            total += subtree_rss_kb(child);
        }
    }
    total
}

/// RSS of a process and the children of its main thread, recursively, in kB.
fn subtree_rss_kb(pid: u32) -> u64 {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    rss_kb(pid, "VmRSS:")
        + children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
            .map(subtree_rss_kb)
            .sum::<u64>()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

struct Round {
    runs_per_sec: f64,
    median_ms: f64,
    p90_ms: f64,
    idle_rss_kb: u64,
    peak_rss_kb: u64,
    /// CPU ms per run, (user, system): the worker, the engine processes below it, the mock.
    cpu: [[f64; 2]; 3],
}

/// The worker's claim backoff (`min/max` seconds): `BENCH_BACKOFF`, default `0.01/0.05`. After
/// a claim that got a run, a workloop waits `min` before its next claim unless a finished run
/// wakes it (as the kit's), so `min` bounds how fast free slots fill.
fn backoff() -> String {
    std::env::var("BENCH_BACKOFF").unwrap_or_else(|_| "0.01/0.05".into())
}

/// The scratch adaptor repo the language-common modes share (installed by the first run).
fn repo_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("openfn-bench-worker-repo")
}

/// A worker under test: the release binary as a child process, or one in this process.
struct Started {
    child: Option<tokio::process::Child>,
    /// The process whose RSS (with its children's) is measured.
    pid: u32,
    _in_process: Option<Worker>,
}

/// CPU times in clock ticks: (user, system) of a process (`/proc/<pid>/stat` fields 14–15) and
/// of its reaped children (16–17).
fn cpu_ticks(pid: u32) -> ([u64; 2], [u64; 2]) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    // after the `)`: state is index 0, so utime (field 14) is index 11
    ([at(11), at(12)], [at(13), at(14)])
}

/// The processes directly below the worker (templates and pooled children).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .flat_map(|task| {
            std::fs::read_to_string(task.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// CPU ticks so far: the worker's own (user, system); what its children (the templates, the
/// pooled children) and their reaped children (the forked runs) used, (user, system); and this
/// process's (the mock's).
fn cpu_snapshot(pid: u32) -> [[u64; 2]; 3] {
    let (worker, reaped) = cpu_ticks(pid);
    let mut below = reaped;
    for child in children_of(pid) {
        let (own, runs) = cpu_ticks(child);
        below[0] += own[0] + runs[0];
        below[1] += own[1] + runs[1];
    }
    let (mock, _) = cpu_ticks(std::process::id());
    [worker, below, mock]
}

/// Milliseconds of CPU per run between two snapshots: ((user, system) of the worker, of the
/// engine processes below it, of the mock).
fn cpu_per_run(before: [[u64; 2]; 3], after: [[u64; 2]; 3], runs: usize) -> [[f64; 2]; 3] {
    // /proc reports clock ticks of USER_HZ, which Linux fixes at 100 for user space.
    let ms_per_tick = 10.0;
    let mut out = [[0.0; 2]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = after[i][j].saturating_sub(before[i][j]) as f64 * ms_per_tick / runs as f64;
        }
    }
    out
}

async fn round(mode: Mode, capacity: usize) -> Round {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let mut worker = start_worker(&mock, mode, capacity);
    // One warm-up run (the install on the very first round, the template's start), then idle:
    // connected and joined, nothing to do.
    if mode != Mode::Mock {
        warm_up(&mock, mode).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let idle = tree_rss_kb(worker.pid);
    // The burst is watched through the mock's event stream (one `run:complete` per run) and
    // RSS is sampled on its own thread every 20 ms: polling every run's view would take the
    // CPU the worker is measured on.
    let mut events = mock.subscribe();
    let sampler = PeakRss::sample(worker.pid);
    let cpu_before = cpu_snapshot(worker.pid);
    let started = Instant::now();
    let ids: Vec<String> = (0..RUNS)
        .map(|i| mock.enqueue_run(plan(i, mode)).expect("enqueue"))
        .collect();
    let stamps = watch_burst(&mut events, started).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_per_run(cpu_before, cpu_snapshot(worker.pid), RUNS);
    // The mock sends `run:complete` to its subscribers as it replies: wait for its record too.
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mock.run(id).is_some_and(|r| r["status"] == "complete") {
            assert!(Instant::now() < deadline, "run {id} not complete");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let peak = sampler.stop();
    let mut lat = stamps.latencies_ms(&ids);
    assert_eq!(lat.len(), RUNS, "a run's claim or completion was not seen");
    let ok = ids
        .iter()
        .filter(|id| mock.run(id).is_some_and(|r| r["reason"] == "success"))
        .count();
    assert_eq!(
        ok,
        RUNS,
        "not every run succeeded: {:?}",
        ids.first().and_then(|id| mock.run(id))
    );
    if let Some(c) = worker.child.as_mut() {
        let _ = c.kill().await;
    }
    mock.shutdown().await;
    Round {
        runs_per_sec: RUNS as f64 / elapsed,
        median_ms: median(&mut lat),
        p90_ms: percentile(&mut lat, 0.9),
        idle_rss_kb: idle,
        peak_rss_kb: peak,
        cpu,
    }
}

/// Starts the release `ws-worker` next to this example on `mock` in `mode`, or, without it,
/// a worker in this process on the mock engine.
fn start_worker(mock: &ServerHandle, mode: Mode, capacity: usize) -> Started {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("ws-worker")))
        .filter(|p| p.exists());
    let Some(path) = binary else {
        let args = Args::try_parse_from([
            "ws-worker",
            "-l",
            &mock.ws_url(),
            "--debug",
            "--capacity=5",
            "--backoff=0.01/0.05",
        ])
        .expect("args");
        let config = Config::resolve(args, &|_| None).expect("config");
        let worker = Worker::start(config, Arc::new(MockExecutor)).expect("worker");
        return Started {
            child: None,
            pid: std::process::id(),
            _in_process: Some(worker),
        };
    };
    let mut args = vec![
        format!("-l {}", mock.ws_url()),
        "--port=0".into(),
        format!("--capacity={capacity}"),
        format!("--backoff={}", backoff()),
        "--log=error".into(),
    ];
    match mode {
        Mode::Mock => args.push("--mock".into()),
        Mode::Js => {}
        Mode::Wasm => {
            args.push(format!("--repo-dir={}", repo_dir().display()));
            args.push("--sandbox=wasm".into());
        }
        Mode::Common(templates) => {
            args.push(format!("--repo-dir={}", repo_dir().display()));
            if templates {
                args.push(format!(
                    "--prewarm={}",
                    adaptor_versions::spec(adaptor_versions::COMMON)
                ));
            } else {
                args.push("--templates=off".into());
            }
        }
    }
    let child = tokio::process::Command::new(path)
        .args(args)
        .env("WORKER_SECRET", "x")
        .kill_on_drop(true)
        .spawn()
        .expect("worker spawns");
    let pid = child.id().unwrap_or(0);
    Started {
        child: Some(child),
        pid,
        _in_process: None,
    }
}

/// Runs one plan of `mode` to completion (five minutes at most: the first may install).
async fn warm_up(mock: &ServerHandle, mode: Mode) {
    let id = mock.enqueue_run(plan(0, mode)).expect("enqueue");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !mock.run(&id).is_some_and(|r| r["status"] == "complete") {
        assert!(Instant::now() < deadline, "the warm-up run did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The peak RSS of a process tree, sampled every 20 ms on a thread of its own.
struct PeakRss {
    sampling: Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    fn sample(pid: u32) -> PeakRss {
        let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let sampler = {
            let sampling = Arc::clone(&sampling);
            std::thread::spawn(move || {
                let mut peak = 0;
                while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = u64::max(peak, tree_rss_kb(pid));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        PeakRss { sampling, sampler }
    }

    /// Stops sampling; the peak in kB.
    fn stop(self) -> u64 {
        self.sampling
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap_or(0)
    }
}

/// When each run was claimed and completed, as the mock's event stream delivered them (the run
/// view's stamps are whole milliseconds).
#[derive(Default)]
struct Stamps {
    claimed: std::collections::HashMap<String, Instant>,
    done: std::collections::HashMap<String, Instant>,
}

impl Stamps {
    /// Claim-to-complete latency of each run seen both claimed and complete, in ms.
    fn latencies_ms(&self, ids: &[String]) -> Vec<f64> {
        ids.iter()
            .filter_map(|id| {
                let (claimed, complete) = (self.claimed.get(id)?, self.done.get(id)?);
                Some(complete.duration_since(*claimed).as_secs_f64() * 1000.0)
            })
            .collect()
    }
}

/// Follows the mock's events until [`RUNS`] runs completed (two minutes from `started` at most).
async fn watch_burst(
    events: &mut tokio::sync::broadcast::Receiver<openfn_lightning_mock::Event>,
    started: Instant,
) -> Stamps {
    let mut stamps = Stamps::default();
    while stamps.done.len() < RUNS {
        let left = Duration::from_secs(120).saturating_sub(started.elapsed());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(event)) if event.name == "claim" => {
                for run in event.data["payload"].as_array().into_iter().flatten() {
                    if let Some(id) = run["id"].as_str() {
                        stamps.claimed.insert(id.to_string(), Instant::now());
                    }
                }
            }
            Ok(Ok(event)) if event.name == "run:complete" => {
                if let Some(id) = event.data["runId"].as_str() {
                    stamps.done.insert(id.to_string(), Instant::now());
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("mock events: {e}"),
            Err(_) => panic!("only {} runs finished", stamps.done.len()),
        }
    }
    stamps
}

/// What one worker did against the kit's mock.
struct KitRound {
    median_ms: f64,
    p90_ms: f64,
    runs_per_sec: f64,
}

/// One worker (`ours` = our release binary, else the kit's) against the kit's TypeScript mock.
fn kit_round(
    kit_dir: &std::path::Path,
    ours: &std::path::Path,
    kit: bool,
    runs: usize,
) -> KitRound {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    };
    let port = free_port();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bench_kit_mock.mjs");
    let mut mock = std::process::Command::new("node")
        .arg(&script)
        .arg(kit_dir)
        .arg(port.to_string())
        .arg(runs.to_string())
        .arg(plan(0, Mode::Common(true)).to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node starts the kit's mock");
    // The mock listens before it reads its first event: give the worker a moment to find it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the kit's mock did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    let repo = std::env::temp_dir().join(if kit {
        "openfn-bench-kit-repo"
    } else {
        "openfn-bench-worker-repo"
    });
    let mut worker = if kit {
        let mut c = std::process::Command::new("node");
        c.arg(kit_dir.join("packages/ws-worker/dist/start.js"));
        c
    } else {
        let mut c = std::process::Command::new(ours);
        c.arg(format!(
            "--prewarm={}",
            adaptor_versions::spec(adaptor_versions::COMMON)
        ));
        c
    };
    let mut worker = worker
        .args(["-l", &format!("ws://localhost:{port}/worker")])
        .args(["--port", &free_port().to_string(), "--backoff", "0.01/0.05"])
        .args(["--capacity", "5", "--log", "error", "--repo-dir"])
        .arg(&repo)
        .env("WORKER_SECRET", "x")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the worker starts");
    let mut line = String::new();
    let read = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(mock.stdout.take().expect("mock stdout")),
        &mut line,
    );
    let _ = worker.kill();
    let _ = worker.wait();
    let _ = mock.kill();
    let _ = mock.wait();
    assert!(
        read.is_ok() && !line.is_empty(),
        "the kit's mock reported nothing"
    );
    let report: Value = serde_json::from_str(&line).expect("the kit mock's report");
    let mut lat: Vec<f64> = report["latencies_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let elapsed = report["elapsed_ms"].as_f64().unwrap_or(f64::INFINITY) / 1000.0;
    KitRound {
        median_ms: median(&mut lat),
        p90_ms: percentile(&mut lat, 0.9),
        runs_per_sec: runs as f64 / elapsed,
    }
}

/// Ours against the kit worker on the kit's mock (see the module docs).
fn kit_comparison(kit_dir: &std::path::Path, ours: &std::path::Path) {
    let runs = std::env::var("KIT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let us = kit_round(kit_dir, ours, false, runs);
    let kit = kit_round(kit_dir, ours, true, runs);
    println!(
        "bench_worker [kit's TS lightning-mock]: {runs} runs of fn(s => s) on language-common at capacity 5"
    );
    for (name, r) in [("ours (warm templates)", &us), ("kit ws-worker", &kit)] {
        println!(
            "  {name:22} claim→complete median {:.1} ms (p90 {:.1}), {:.1} runs/s",
            r.median_ms, r.p90_ms, r.runs_per_sec
        );
    }
    println!(
        "  ratios                 latency {:.0}× lower, throughput {:.0}× higher",
        kit.median_ms / us.median_ms,
        us.runs_per_sec / kit.runs_per_sec
    );
}

/// Prints the medians of a mode's rounds.
fn report(name: &str, capacity: usize, rounds: &[Round]) {
    let mut rps: Vec<f64> = rounds.iter().map(|r| r.runs_per_sec).collect();
    let mut med: Vec<f64> = rounds.iter().map(|r| r.median_ms).collect();
    let mut p90: Vec<f64> = rounds.iter().map(|r| r.p90_ms).collect();
    let mut idle: Vec<f64> = rounds.iter().map(|r| r.idle_rss_kb as f64).collect();
    let mut peak: Vec<f64> = rounds.iter().map(|r| r.peak_rss_kb as f64).collect();
    println!(
        "bench_worker [{name}]: {RUNS} trivial runs at capacity {capacity}, --backoff={}, median of {ROUNDS} rounds",
        backoff()
    );
    println!("  throughput            {:.1} runs/s", median(&mut rps));
    println!("  claim→complete median {:.1} ms", median(&mut med));
    println!("  claim→complete p90    {:.1} ms", median(&mut p90));
    println!(
        "  idle RSS (+children)  {:.1} MB",
        median(&mut idle) / 1024.0
    );
    println!(
        "  peak RSS (+children)  {:.1} MB",
        median(&mut peak) / 1024.0
    );
    let who = ["worker", "engine children", "mock (in process)"];
    for (i, who) in who.iter().enumerate() {
        let mut user: Vec<f64> = rounds.iter().map(|r| r.cpu[i][0]).collect();
        let mut sys: Vec<f64> = rounds.iter().map(|r| r.cpu[i][1]).collect();
        println!(
            "  CPU/run {who:17} {:.2} ms user + {:.2} ms sys",
            median(&mut user),
            median(&mut sys)
        );
    }
}

#[tokio::main]
async fn main() {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("ws-worker")))
        .filter(|p| p.exists());
    let mut modes = vec![("mock engine (--mock)", Mode::Mock)];
    if binary.is_some() {
        modes.push(("real engine, plain JS (child processes)", Mode::Js));
        modes.push((
            "real engine, language-common, warm templates",
            Mode::Common(true),
        ));
        modes.push((
            "real engine, language-common, --templates off",
            Mode::Common(false),
        ));
    }
    let capacities: Vec<usize> = std::env::var("BENCH_CAPACITY")
        .unwrap_or_else(|_| "5".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let only = std::env::var("BENCH_MODES").unwrap_or_default();
    if binary.is_some() && only.split(',').any(|m| m == "wasm") {
        modes.push(("real engine, language-common, --sandbox wasm", Mode::Wasm));
    }
    for (name, mode) in modes {
        if !only.is_empty() && !only.split(',').any(|m| name.contains(m)) {
            continue;
        }
        for &capacity in &capacities {
            let mut rounds = Vec::new();
            for _ in 0..ROUNDS {
                rounds.push(round(mode, capacity).await);
            }
            report(name, capacity, &rounds);
        }
    }
    if let Some(binary) = &binary
        && (only.is_empty() || only.split(',').any(|m| m == "big"))
    {
        big_dataclip(binary).await;
    }
    if let (Some(kit_dir), Some(ours)) = (std::env::var_os("BENCH_KIT_DIR"), binary.as_ref()) {
        kit_comparison(std::path::Path::new(&kit_dir), ours);
    }
}

/// Runs of the big-dataclip case.
const BIG_RUNS: usize = 5;

/// The big-state case of the CLI's benchmark in the worker (`BENCH_MODES=big`): a 10 MB input
/// dataclip through three steps on language-common (each sets one field), warm templates, one
/// run at a time; prints the median claim → complete.
async fn big_dataclip(binary: &std::path::Path) {
    // step events carry the state escaped in a JSON string: past the default 11 MB frame
    let config = MockConfig {
        max_frame_size: 64_000_000,
        ..MockConfig::default()
    };
    let mock = Server::start(config).await.expect("mock");
    let mut worker = tokio::process::Command::new(binary)
        .args([
            format!("-l {}", mock.ws_url()),
            "--port=0".into(),
            "--capacity=1".into(),
            "--backoff=0.01/0.05".into(),
            "--log=error".into(),
            format!("--repo-dir={}", repo_dir().display()),
            format!(
                "--prewarm={}",
                adaptor_versions::spec(adaptor_versions::COMMON)
            ),
        ])
        .env("WORKER_SECRET", "x")
        .kill_on_drop(true)
        .spawn()
        .expect("worker spawns");
    let records: Vec<Value> = (0..62_000)
        .map(|i| {
            json!({
                "id": i, "name": format!("patient-{i}"), "tags": ["a", "b", "c"],
                "score": i as f64 * 1.5,
                "visit": { "date": "2024-01-01T00:00:00Z", "ok": i % 2 == 0, "notes": "lorem ipsum dolor sit amet" }
            })
        })
        .collect();
    let clip = json!({ "data": { "records": records } });
    let size = clip.to_string().len();
    mock.add_dataclip("big", clip);
    let adaptor = adaptor_versions::spec(adaptor_versions::COMMON);
    let job = |id: &str| json!({ "id": id, "adaptor": adaptor, "body": format!("fn(s => {{ s.data.step = '{id}'; return s; }});") });
    let edge = |id: &str, from: &str, to: &str| json!({ "id": id, "source_job_id": from, "target_job_id": to, "condition": "on_job_success", "enabled": true });
    let plan = json!({
        "triggers": [{ "id": "t" }],
        "jobs": [job("a"), job("b"), job("c")],
        "edges": [
            { "id": "e0", "source_trigger_id": "t", "target_job_id": "a", "condition": "always", "enabled": true },
            edge("e1", "a", "b"), edge("e2", "b", "c")
        ],
        "starting_node_id": "t",
        "dataclip_id": "big",
        "options": {}
    });
    // warm-up: the install and the template's start
    let id = mock.enqueue_run(plan.clone()).expect("enqueue");
    let done = mock.wait_for_final(&id, Duration::from_secs(300)).await;
    assert!(done.is_some(), "the warm-up run did not finish");
    let mut times = Vec::new();
    for _ in 0..BIG_RUNS {
        let mut events = mock.subscribe();
        let id = mock.enqueue_run(plan.clone()).expect("enqueue");
        let mut claimed = None;
        loop {
            let event = tokio::time::timeout(Duration::from_secs(120), events.recv())
                .await
                .expect("the big run finished in time")
                .expect("mock events");
            let runs = event.data["payload"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if event.name == "claim" && runs.iter().any(|r| r["id"] == id.as_str()) {
                claimed.get_or_insert_with(Instant::now);
            } else if event.name == "run:complete" && event.data["runId"] == id.as_str() {
                break;
            }
        }
        let took = claimed.map_or(0.0, |c| c.elapsed().as_secs_f64() * 1000.0);
        let reason = mock
            .wait_for_final(&id, Duration::from_secs(10))
            .await
            .map(|r| r["reason"].clone());
        assert_eq!(reason, Some(json!("success")), "the big run failed");
        times.push(took);
    }
    let _ = worker.kill().await;
    mock.shutdown().await;
    println!(
        "bench_worker [big dataclip]: {:.1} MB input dataclip through 3 steps on language-common, warm templates",
        size as f64 / 1e6
    );
    println!(
        "  claim→complete median {:.0} ms over {BIG_RUNS} runs",
        median(&mut times)
    );
}
