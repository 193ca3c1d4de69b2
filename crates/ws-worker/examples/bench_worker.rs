//! Worker benchmark: 200 trivial runs at capacity 5 against an in-process lightning-mock.
//! Prints runs/s, claim-to-complete latency (median, p90) and idle/peak RSS, each the median of
//! repeated rounds.
//!
//! The worker is the release `ws-worker` binary (next to this example, built by
//! `cargo build --release -p openfn-ws-worker`) when present, so RSS is the worker's alone;
//! otherwise it runs in-process and RSS includes the mock.
//!
//! Run: `cargo run --release -p openfn-ws-worker --example bench_worker`

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use openfn_lightning_mock::{Config as MockConfig, Server};
use openfn_ws_worker::config::{Args, Config};
use openfn_ws_worker::{MockExecutor, Worker};
use serde_json::{Value, json};

const RUNS: usize = 200;
const ROUNDS: usize = 3;

fn plan(i: usize) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j1", "adaptor": "@openfn/language-common@1.0.0", "body": json!({"data": {"i": i}}).to_string()}],
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

async fn round() -> Round {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("ws-worker")))
        .filter(|p| p.exists());
    let (mut child, pid, _worker) = match binary {
        Some(path) => {
            let child = tokio::process::Command::new(path)
                .args([
                    format!("-l {}", mock.ws_url()),
                    "--port=0".into(),
                    "--capacity=5".into(),
                    "--mock".into(),
                    "--backoff=0.01/0.05".into(),
                    "--log=error".into(),
                ])
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
    // Idle: connected and joined, nothing to do.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let idle = rss_kb(pid, "VmRSS:");
    let started = Instant::now();
    let ids: Vec<String> = (0..RUNS)
        .map(|i| mock.enqueue_run(plan(i)).expect("enqueue"))
        .collect();
    let mut peak = 0;
    loop {
        peak = peak.max(rss_kb(pid, "VmRSS:"));
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
    let peak = peak.max(rss_kb(pid, "VmHWM:"));
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
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(round().await);
    }
    let mut rps: Vec<f64> = rounds.iter().map(|r| r.runs_per_sec).collect();
    let mut med: Vec<f64> = rounds.iter().map(|r| r.median_ms).collect();
    let mut p90: Vec<f64> = rounds.iter().map(|r| r.p90_ms).collect();
    let mut idle: Vec<f64> = rounds.iter().map(|r| r.idle_rss_kb as f64).collect();
    let mut peak: Vec<f64> = rounds.iter().map(|r| r.peak_rss_kb as f64).collect();
    let where_ = if PathBuf::from("/proc/self").exists() {
        ""
    } else {
        " (no /proc: RSS unavailable)"
    };
    println!("bench_worker: {RUNS} trivial runs at capacity 5, median of {ROUNDS} rounds{where_}");
    println!("  throughput            {:.1} runs/s", median(&mut rps));
    println!("  claim→complete median {:.1} ms", median(&mut med));
    println!("  claim→complete p90    {:.1} ms", median(&mut p90));
    println!(
        "  idle RSS              {:.1} MB",
        median(&mut idle) / 1024.0
    );
    println!(
        "  peak RSS              {:.1} MB",
        median(&mut peak) / 1024.0
    );
}
