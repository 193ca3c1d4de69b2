//! Engine benchmark: trivial one-step runs through a warm pool of child processes.
//!
//! Run with `cargo run --release -p openfn-engine --example bench_engine`. Prints, as the
//! median of repeated rounds: throughput at capacity 5, per-run overhead (sequential runs),
//! supervisor RSS when idle, and the RSS of a busy child.
//!
//! The benchmark binary is also its own child process (`current_exe` + the hidden child flag),
//! exactly as the worker ships. Two rounds: a trivial echo job (the engine's own overhead:
//! process pool, IPC framing, event translation), then the real child (compile + QuickJS run
//! of `fn(s => s)` importing the fixture adaptor); each with pooled children and with runs
//! forked from a warm template.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_engine::child::{self, ChildJob, Failure, JobRequest, JobSink};
use openfn_engine::{
    ChildCommand, Engine, EngineConfig, EngineEvent, ExecutionPlan, Input, Mem, NoResolvers,
    RunOptions, TemplateConfig, TemplateMode, sys,
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
        sink.job_complete("job", 0, vec![], Mem::default(), state.clone(), None);
        Ok(state)
    }
}

fn plan(i: usize, hold: bool, js: bool) -> ExecutionPlan {
    let expression = match (js, hold) {
        (false, true) => "hold",
        (true, true) => "fn(s => new Promise(r => setTimeout(() => r(s), 300)))",
        (_, false) => "fn(s => s)",
    };
    let mut step = json!({ "id": "job", "expression": expression });
    if js {
        step["adaptors"] = json!([adaptor()]);
    }
    let value = json!({ "id": format!("bench-{i}"), "workflow": { "steps": [step] } });
    ExecutionPlan::from_value(value).expect("valid plan")
}

/// The adaptor of the JS runs: `BENCH_ADAPTOR` (with `BENCH_REPO` holding it installed, e.g.
/// the engine tests' real-adaptor repo under `target/tmp/engine-adaptor-repo` with
/// `@openfn/language-common@3.3.4`), else the fixture adaptor.
fn adaptor() -> String {
    std::env::var("BENCH_ADAPTOR").unwrap_or_else(|_| "@openfn/language-common@1.0.0".into())
}

/// Runs per throughput round and per latency round (`BENCH_RUNS`, default 1000; latency uses
/// a fifth).
fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

fn input() -> Input {
    let raw =
        serde_json::value::RawValue::from_string(r#"{"data":{"x":1}}"#.to_owned()).expect("json");
    Input::Value(raw)
}

async fn one(engine: &Engine, i: usize, hold: bool) -> (Duration, Option<u32>) {
    let js = engine
        .config()
        .env
        .get("BENCH_CHILD")
        .is_some_and(|c| c == "js");
    let started = Instant::now();
    let events = engine
        .execute(
            plan(i, hold, js),
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
    let trivial = std::env::var("BENCH_CHILD").is_ok_and(|c| c == "trivial");
    if child::is_template_invocation() && trivial {
        child::run_template(|_| Ok(()), |()| Box::new(Trivial));
    }
    if child::is_child_invocation() && trivial {
        child::run_child(&Trivial);
    }
    child::maybe_run_child();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for templates in [TemplateMode::Off, TemplateMode::Always] {
        rt.block_on(bench(
            "trivial",
            "trivial echo job: the engine's own overhead",
            templates,
        ));
        rt.block_on(bench(
            "js",
            "compile + QuickJS run of `fn(s => s)` with an adaptor",
            templates,
        ));
    }
}

async fn bench(mode: &str, what: &str, templates: TemplateMode) {
    let engine = Arc::new(start_engine(mode, templates));

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

    let rates = throughput(&engine).await;
    let latencies = sequential_latencies(&engine).await;

    // Idle supervisor RSS, after all that work.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let idle_rss = sys::rss_bytes(None).unwrap_or(0);

    let child_rss = busy_child_rss(&engine).await;
    let warm = engine.templates();
    engine.destroy(false);

    let path = match templates {
        TemplateMode::Off => "pooled children",
        _ => "forked from a warm template",
    };
    println!("engine bench, capacity 5, one-step runs, {path}; child: {what}");
    if mode == "js" {
        println!("  adaptor:              {}", adaptor());
    }
    for t in warm {
        println!(
            "  template RSS:         {:>8.1} MB (pid {})",
            t.rss_bytes as f64 / 1048576.0,
            t.pid
        );
    }
    println!(
        "  throughput:           {:>8.0} runs/s (median of 5 x {} runs, 50 in flight)",
        median(rates),
        runs()
    );
    println!(
        "  per-run latency:      {:>8.3} ms (median of 5 x {} sequential runs)",
        median(latencies),
        (runs() / 5).max(1)
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
}

/// An engine of capacity 5 whose children are this example in `mode` (`BENCH_CHILD`), on the
/// fixture repo or `BENCH_REPO`.
fn start_engine(mode: &str, templates: TemplateMode) -> Engine {
    let exe = std::env::current_exe().expect("current exe");
    let repo = std::env::var_os("BENCH_REPO")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
        });
    let config = EngineConfig {
        capacity: 5,
        repo_dir: repo,
        child_command: Some(ChildCommand::binary(exe)),
        env: [("BENCH_CHILD".to_owned(), mode.to_owned())].into(),
        templates: TemplateConfig {
            mode: templates,
            ..TemplateConfig::default()
        },
        ..EngineConfig::default()
    };
    Engine::new(config).expect("engine")
}

/// Throughput: [`runs`] runs, 50 in flight, 5 rounds; runs/s of each round.
async fn throughput(engine: &Arc<Engine>) -> Vec<f64> {
    let mut rates = Vec::new();
    for _ in 0..5 {
        let n = runs();
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let engine = Arc::clone(engine);
            set.spawn(async move { one(&engine, i, false).await });
            if set.len() >= 50 {
                set.join_next().await;
            }
        }
        while set.join_next().await.is_some() {}
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    rates
}

/// Overhead: sequential runs, one at a time, 5 rounds of a fifth of [`runs`]; the median ms
/// per run of each round.
async fn sequential_latencies(engine: &Engine) -> Vec<f64> {
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let mut round = Vec::new();
        for i in 0..(runs() / 5).max(1) {
            round.push(one(engine, i, false).await.0.as_secs_f64() * 1000.0);
        }
        latencies.push(median(round));
    }
    latencies
}

/// A busy child's RSS (the run holds the child for 300 ms), sampled every 20 ms over every
/// live child.
async fn busy_child_rss(engine: &Arc<Engine>) -> Vec<f64> {
    let engine2 = Arc::clone(engine);
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
    child_rss
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
