//! Engine benchmark: trivial one-step runs through a warm pool of child processes.
//!
//! Run with `cargo run --release -p openfn-engine --example bench_engine`. Prints, as the
//! median of repeated rounds: throughput at capacity 5, per-run overhead (sequential runs),
//! supervisor RSS when idle, and the RSS of a busy child.
//!
//! The benchmark binary is also its own child process (`current_exe` + the hidden child flag),
//! exactly as the worker ships. Until the JavaScript runtime is linked into the engine, the
//! child executes a trivial job (echo the input into one `job-complete`), so the figures are
//! the engine's own overhead: process pool, IPC framing and event translation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_engine::child::{self, ChildJob, Failure, JobRequest, JobSink};
use openfn_engine::{
    ChildCommand, Engine, EngineConfig, EngineEvent, ExecutionPlan, Input, Mem, NoResolvers,
    RunOptions, sys,
};
use serde_json::json;

/// One step: report a job-start and a job-complete echoing the input.
struct Trivial;

impl ChildJob for Trivial {
    fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        sink.compile_start();
        sink.compile_complete(0);
        let state = request
            .input
            .map(|s| s.get().to_owned())
            .unwrap_or_else(|| "{}".into());
        sink.job_start("job");
        if request.plan.get().contains("\"hold\"") {
            std::thread::sleep(Duration::from_millis(300));
        }
        sink.job_complete("job", 0, vec![], Mem::default(), state.clone());
        Ok(state)
    }
}

fn plan(i: usize, hold: bool) -> ExecutionPlan {
    let expression = if hold { "hold" } else { "fn(s => s)" };
    let value = json!({ "id": format!("bench-{i}"), "workflow": { "steps": [{ "id": "job", "expression": expression }] } });
    ExecutionPlan::from_value(value).expect("valid plan")
}

fn input() -> Input {
    let raw =
        serde_json::value::RawValue::from_string(r#"{"data":{"x":1}}"#.to_owned()).expect("json");
    Input::Value(raw)
}

async fn one(engine: &Engine, i: usize, hold: bool) -> (Duration, Option<u32>) {
    let started = Instant::now();
    let events = engine
        .execute(
            plan(i, hold),
            input(),
            RunOptions::default(),
            Arc::new(NoResolvers),
        )
        .collect()
        .await;
    let pid = events.iter().find_map(|e| match e {
        EngineEvent::WorkflowStart { thread_id, .. } => Some(*thread_id),
        _ => None,
    });
    assert!(
        matches!(events.last(), Some(EngineEvent::WorkflowComplete { .. })),
        "run failed: {events:?}"
    );
    (started.elapsed(), pid)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if child::is_child_invocation() {
        child::run_child(&Trivial);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let exe = std::env::current_exe().expect("current exe");
        let config = EngineConfig {
            capacity: 5,
            child_command: Some(ChildCommand::binary(exe)),
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(config).expect("engine"));

        // Warm the pool: five children started.
        let warm: Vec<_> = (0..5)
            .map(|i| {
                let engine = Arc::clone(&engine);
                tokio::spawn(async move { one(&engine, i, true).await })
            })
            .collect();
        for w in warm {
            w.await.expect("warm-up");
        }

        // Throughput: 1000 runs, 50 in flight, 5 rounds.
        let mut rates = Vec::new();
        for _ in 0..5 {
            let n = 1000;
            let started = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n {
                let engine = Arc::clone(&engine);
                set.spawn(async move { one(&engine, i, false).await });
                if set.len() >= 50 {
                    set.join_next().await;
                }
            }
            while set.join_next().await.is_some() {}
            rates.push(n as f64 / started.elapsed().as_secs_f64());
        }

        // Overhead: sequential runs, one at a time (ms per run), 5 rounds of 200.
        let mut latencies = Vec::new();
        for _ in 0..5 {
            let mut round = Vec::new();
            for i in 0..200 {
                round.push(one(&engine, i, false).await.0.as_secs_f64() * 1000.0);
            }
            latencies.push(median(round));
        }

        // Idle supervisor RSS, after all that work.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let idle_rss = sys::rss_bytes(None).unwrap_or(0);

        // A busy child's RSS (the run holds the child for 300 ms).
        let engine2 = Arc::clone(&engine);
        let busy = tokio::spawn(async move { one(&engine2, 0, true).await });
        let mut child_rss = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for pid in child_pids() {
                if let Some(rss) = sys::rss_bytes(Some(pid)) {
                    child_rss.push(rss as f64);
                }
            }
        }
        busy.await.expect("busy run");
        engine.destroy(false);

        println!("engine bench (trivial one-step runs, capacity 5; child job: trivial echo)");
        println!(
            "  throughput:           {:>8.0} runs/s (median of 5 x 1000 runs, 50 in flight)",
            median(rates)
        );
        println!(
            "  per-run overhead:     {:>8.3} ms (median of 5 x 200 sequential runs)",
            median(latencies)
        );
        println!(
            "  supervisor idle RSS:  {:>8.1} MB",
            idle_rss as f64 / 1048576.0
        );
        if !child_rss.is_empty() {
            println!(
                "  child RSS:            {:>8.1} MB (median over live children)",
                median(child_rss) / 1048576.0
            );
        }
    });
}

/// Pids of this process's children (from /proc).
fn child_pids() -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(") ")
                        .map(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
                })
                .flatten()
                .is_some_and(|ppid| ppid == me.to_string())
        })
        .collect()
}
