//! Worker benchmark: 200 trivial runs at capacity 5 against an in-process lightning-mock.
//! Prints runs/s, claim-to-complete latency (median, p90) and idle/peak RSS, each the median of
//! repeated rounds.
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
//! Run: `cargo run --release -p openfn-ws-worker --example bench_worker`

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use openfn_lightning_mock::{Config as MockConfig, Server};
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
        Mode::Common(_) => (
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

/// RSS of a process and all its descendants (the engine's children), in kB.
fn tree_rss_kb(pid: u32) -> u64 {
    let mut total = rss_kb(pid, "VmRSS:");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for e in entries.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        // Fields after the `(comm)`: state, ppid, …
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            total += tree_rss_kb(child);
        }
    }
    total
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
}

/// The scratch adaptor repo the language-common modes share (installed by the first run).
fn repo_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("openfn-bench-worker-repo")
}

async fn round(mode: Mode) -> Round {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("ws-worker")))
        .filter(|p| p.exists());
    let (mut child, pid, _worker) = match binary {
        Some(path) => {
            let mut args = vec![
                format!("-l {}", mock.ws_url()),
                "--port=0".into(),
                "--capacity=5".into(),
                "--backoff=0.01/0.05".into(),
                "--log=error".into(),
            ];
            match mode {
                Mode::Mock => args.push("--mock".into()),
                Mode::Js => {}
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
            (Some(child), pid, None)
        }
        None => {
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
            (None, std::process::id(), Some(worker))
        }
    };
    // One warm-up run (the install on the very first round, the template's start), then idle:
    // connected and joined, nothing to do.
    if mode != Mode::Mock {
        let id = mock.enqueue_run(plan(0, mode)).expect("enqueue");
        let deadline = Instant::now() + Duration::from_secs(300);
        while !mock.run(&id).is_some_and(|r| r["status"] == "complete") {
            assert!(Instant::now() < deadline, "the warm-up run did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let idle = tree_rss_kb(pid);
    let started = Instant::now();
    let ids: Vec<String> = (0..RUNS)
        .map(|i| mock.enqueue_run(plan(i, mode)).expect("enqueue"))
        .collect();
    let mut peak = 0;
    loop {
        peak = peak.max(tree_rss_kb(pid));
        let done = ids
            .iter()
            .filter(|id| mock.run(id).is_some_and(|r| r["status"] == "complete"))
            .count();
        if done == RUNS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {done} runs finished"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = ids
        .iter()
        .filter_map(|id| {
            let r = mock.run(id)?;
            let t = &r["times"];
            let claimed = t["claimed_at"].as_f64()?;
            let complete = t["finished_at"].as_f64()?;
            Some(complete - claimed)
        })
        .collect();
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
    if let Some(c) = child.as_mut() {
        let _ = c.kill().await;
    }
    mock.shutdown().await;
    Round {
        runs_per_sec: RUNS as f64 / elapsed,
        median_ms: median(&mut lat),
        p90_ms: percentile(&mut lat, 0.9),
        idle_rss_kb: idle,
        peak_rss_kb: peak,
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
    for (name, mode) in modes {
        let mut rounds = Vec::new();
        for _ in 0..ROUNDS {
            rounds.push(round(mode).await);
        }
        let mut rps: Vec<f64> = rounds.iter().map(|r| r.runs_per_sec).collect();
        let mut med: Vec<f64> = rounds.iter().map(|r| r.median_ms).collect();
        let mut p90: Vec<f64> = rounds.iter().map(|r| r.p90_ms).collect();
        let mut idle: Vec<f64> = rounds.iter().map(|r| r.idle_rss_kb as f64).collect();
        let mut peak: Vec<f64> = rounds.iter().map(|r| r.peak_rss_kb as f64).collect();
        println!(
            "bench_worker [{name}]: {RUNS} trivial runs at capacity 5, median of {ROUNDS} rounds"
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
    }
}
