//! The wasm tier against native QuickJS (rquickjs in-process, the same JS driver): per-run
//! overhead, a 10M-iteration loop and a JSON transform of a ~5 MB state; the same with fuel
//! metering off (what metering costs); and plan mode (the whole openfn-runtime in the guest)
//! against openfn-runtime natively.
//!
//! Plan mode again with and without pre-initialised snapshots, with no adaptor and with the
//! real language-common (the repo the runtime's node tests install, or `$OPENFN_BENCH_REPO`).
//!
//! `crates/sandbox-wasm-guest/build.sh && cargo run -p openfn-sandbox-wasm --features wasm
//! --example wasm_bench [runs] [snapshots]` (`snapshots`: only the snapshot figures;
//! dependencies, wasmtime's Cranelift and QuickJS' C, are built optimised even in the dev
//! profile; the job code is JIT-compiled wasm or the C interpreter).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use openfn_sandbox_wasm::{Limits, WasmSandbox};
use rquickjs::{Context, Function, Module, Promise, Runtime};
use serde_json::{Value, json};

const TRIVIAL: &str = "export default [s => s];";
const LOOP: &str = "export default [s => { let x = 0; for (let i = 0; i < 1e7; i++) { x = (x + i) % 1000003; } return { x }; }];";
const TRANSFORM: &str = "export default [s => ({ items: s.data.items.map(i => ({ ...i, total: i.qty * i.price, name: i.name.toUpperCase() })) })];";

/// The native driver: the same shape as the guest's (JSON in, operations awaited, JSON out).
const DRIVER: &str = "globalThis.__run = async (ops, json) => { let s = JSON.parse(json); for (const op of ops) s = await op(s); return JSON.stringify(s); };";

fn native(source: &str, state: &str) -> anyhow::Result<String> {
    let rt = Runtime::new()?;
    let ctx = Context::full(&rt)?;
    ctx.with(|ctx| -> anyhow::Result<String> {
        ctx.eval::<(), _>(DRIVER)?;
        let (module, done) = Module::declare(ctx.clone(), "job.js", source)?.eval()?;
        done.finish::<()>()?;
        let ops: rquickjs::Value<'_> = module.namespace()?.get("default")?;
        let run: Function<'_> = ctx.globals().get("__run")?;
        let p: Promise<'_> = run.call((ops, state))?;
        Ok(p.finish::<String>()?)
    })
}

fn big_state() -> Value {
    let items: Vec<Value> = (0..61_000)
        .map(|i| json!({"id": i, "name": format!("item number {i}"), "qty": i % 7, "price": 1.25 * f64::from(i % 100), "tags": ["a", "b", "c"]}))
        .collect();
    json!({"data": {"items": items}})
}

fn time<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<(Duration, T)> {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f()?);
        best = best.min(t.elapsed());
    }
    Ok((best, last.context("no runs")?))
}

fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let guest = openfn_sandbox_wasm::find_guest()?;
    let cache = std::env::temp_dir().join("openfn-wasm-bench-cache");
    let t = Instant::now();
    let sandbox = WasmSandbox::load(&guest, &cache)?;
    println!(
        "load guest: {:?} (from cache: {})",
        t.elapsed(),
        sandbox.from_cache()
    );
    let limits = Limits {
        fuel: u64::MAX / 2,
        memory_bytes: 1 << 30,
        output_bytes: 1 << 28,
    };
    if std::env::args().nth(2).as_deref() == Some("snapshots") {
        return snapshots(&guest, runs, &limits);
    }
    let big = big_state();
    let big_text = serde_json::to_string(&big)?;
    println!(
        "state for the transform: {} bytes; best of {runs} runs",
        big_text.len()
    );
    let cases: [(&str, &str, Value, usize); 3] = [
        (
            "per-run overhead (s => s)",
            TRIVIAL,
            json!({"data": {}}),
            runs * 20,
        ),
        ("10M-iteration loop", LOOP, json!({}), runs),
        ("JSON transform, 5 MB", TRANSFORM, big, runs),
    ];
    for (name, job, state, n) in cases {
        let text = serde_json::to_string(&state)?;
        let (w, out) = time(n, || Ok(sandbox.run(job, &state, &limits)?))?;
        anyhow::ensure!(out.error.is_none(), "wasm: {:?}", out.error);
        let (nat, native_out) = time(n, || native(job, &text))?;
        let same =
            serde_json::from_str::<Value>(&native_out)? == out.state.clone().unwrap_or(Value::Null);
        println!(
            "{name:28} wasm {w:>12.3?}  native {nat:>12.3?}  ratio {:.2}x  fuel {}  same result: {same}",
            w.as_secs_f64() / nat.as_secs_f64(),
            out.fuel_used
        );
    }
    let wasm = std::fs::read(&guest)?;
    let unmetered = WasmSandbox::unmetered_for_measurement(&wasm, &cache.join("unmetered"))?;
    for (name, job, state) in [
        ("10M-iteration loop", LOOP, json!({})),
        ("JSON transform, 5 MB", TRANSFORM, big_state()),
    ] {
        let (metered, _) = time(runs, || Ok(sandbox.run(job, &state, &limits)?))?;
        let (free, _) = time(runs, || Ok(unmetered.run(job, &state, &limits)?))?;
        println!(
            "{name:28} fuel on {metered:>12.3?}  fuel off {free:>12.3?}  metering costs {:.0}%",
            (metered.as_secs_f64() / free.as_secs_f64() - 1.0) * 100.0
        );
    }
    plan_mode(&sandbox, runs, &limits)?;
    snapshots(&guest, runs, &limits)
}

/// The process's private dirty memory (`/proc/self/smaps_rollup`), bytes; 0 elsewhere.
fn private_dirty() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("Private_Dirty:"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// Notes the private dirty memory while a run is live (its step's credential lookup).
struct Probe(std::sync::Mutex<u64>);

impl openfn_sandbox_wasm::PlanResolver for Probe {
    fn credential(&self, _id: &str) -> Result<Value, String> {
        *self.0.lock().map_err(|e| e.to_string())? = private_dirty();
        Ok(json!({}))
    }
    fn dataclip(&self, id: &str) -> Result<Value, String> {
        Err(format!("no dataclip {id}"))
    }
}

/// The private memory one live run adds to the process, read while the instance is alive
/// (after its first step, by a second step's credential lookup): the median of `n` runs,
/// bytes.
fn live_instance_memory(
    sandbox: &WasmSandbox,
    plan: &Value,
    options: &openfn_sandbox_wasm::PlanOptions,
    limits: &Limits,
    n: usize,
) -> anyhow::Result<u64> {
    // a second step with a credential: its lookup runs after the first step has run
    let mut plan = plan.clone();
    let mut probe_step = plan["workflow"]["steps"][0].clone();
    probe_step["id"] = json!("probe");
    probe_step["configuration"] = json!("probe");
    plan["workflow"]["steps"][0]["next"] = json!({"probe": true});
    if let Some(steps) = plan["workflow"]["steps"].as_array_mut() {
        steps.push(probe_step);
    }
    let probe = std::sync::Arc::new(Probe(std::sync::Mutex::new(0)));
    let options = openfn_sandbox_wasm::PlanOptions {
        resolver: Some(probe.clone()),
        ..options.clone()
    };
    let mut grown = Vec::new();
    for _ in 0..n {
        let before = private_dirty();
        let out = sandbox.run_plan(&plan, Some(&json!({"data": {}})), &options, limits)?;
        anyhow::ensure!(out.error.is_none(), "{:?}", out.error);
        let during = *probe.0.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
        grown.push(during.saturating_sub(before));
    }
    grown.sort_unstable();
    Ok(grown.get(n / 2).copied().unwrap_or_default())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The repo with the real adaptors the tests install (`$OPENFN_BENCH_REPO`, else the one
/// the runtime's node tests leave in `target/tmp`).
fn adaptor_repo() -> std::path::PathBuf {
    std::env::var_os("OPENFN_BENCH_REPO").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/tmp/runtime-adaptor-repo")
        },
        Into::into,
    )
}

/// Plan mode with and without pre-initialised snapshots: per-run time (median) with no
/// adaptor and with the real language-common, the first use's snapshot cost (a fresh cache),
/// and the instance's linear memory.
fn snapshots(guest: &std::path::Path, runs: usize, limits: &Limits) -> anyhow::Result<()> {
    let repo = adaptor_repo();
    let common = std::fs::read_dir(repo.join("node_modules/@openfn"))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find_map(|n| n.strip_prefix("language-common_").map(str::to_owned));
    let cache = tempfile::tempdir()?;
    let sandbox = WasmSandbox::load(guest, cache.path())?;
    let mut cases = vec![(
        "no adaptor",
        json!({"workflow": {"steps": [{"id": "a", "expression": TRIVIAL}]}}),
        openfn_sandbox_wasm::PlanOptions::default(),
    )];
    match common {
        Some(version) => cases.push((
            "language-common",
            json!({"workflow": {"steps": [{"id": "a",
                "adaptors": [format!("@openfn/language-common@{version}")],
                "expression": "import { fn } from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [fn(s => s)];"}]}}),
            openfn_sandbox_wasm::PlanOptions {
                repo: Some(repo.clone()),
                ..openfn_sandbox_wasm::PlanOptions::default()
            },
        )),
        None => println!(
            "snapshots: no language-common under {} (run the runtime's node tests or set OPENFN_BENCH_REPO)",
            repo.display()
        ),
    }
    let state = json!({"data": {}});
    for (name, plan, options) in cases {
        let first = sandbox.run_plan(&plan, Some(&state), &options, limits)?;
        anyhow::ensure!(first.error.is_none(), "{name}: {:?}", first.error);
        println!("snapshot, {name:16} first use: {:?}", first.snapshot);
        // another process (a new sandbox on the same cache): the snapshot from disk
        let again = WasmSandbox::load(guest, cache.path())?;
        let t = Instant::now();
        let from_disk = again.run_plan(&plan, Some(&state), &options, limits)?;
        println!(
            "snapshot, {name:16} first run of a new sandbox: {:.3?} ({:?})",
            t.elapsed(),
            from_disk.snapshot
        );
        let plain_options = openfn_sandbox_wasm::PlanOptions {
            snapshot: false,
            ..options.clone()
        };
        for (mode, options) in [("plain", &plain_options), ("snapshot", &options)] {
            let mut samples = Vec::new();
            let mut last = None;
            for _ in 0..runs * 10 {
                let t = Instant::now();
                let out = sandbox.run_plan(&plan, Some(&state), options, limits)?;
                samples.push(t.elapsed());
                last = Some(out);
            }
            let out = last.context("no runs")?;
            anyhow::ensure!(out.error.is_none(), "{name} {mode}: {:?}", out.error);
            let live = live_instance_memory(&sandbox, &plan, options, limits, runs * 2)?;
            println!(
                "plan {name:16} {mode:9} median {:>10.3?}  fuel {:>11}  linear memory {:>5.1} MiB  private while live {:>5.1} MiB  ({:?})",
                median(samples),
                out.fuel_used,
                out.memory_peak as f64 / f64::from(1 << 20),
                live as f64 / f64::from(1 << 20),
                out.snapshot
            );
        }
    }
    Ok(())
}

/// One-step plans through openfn-runtime: in the guest (`run_plan`) and natively.
fn plan_mode(sandbox: &WasmSandbox, runs: usize, limits: &Limits) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let host = openfn_runtime::NodeAdaptorHost::new(openfn_runtime::NodeHost::new(
        openfn_runtime::HostPolicy::deny_all(),
    ));
    let options = openfn_sandbox_wasm::PlanOptions::default();
    for (name, job, state, n) in [
        (
            "plan: per run (s => s)",
            TRIVIAL,
            json!({"data": {}}),
            runs * 5,
        ),
        ("plan: 10M-iteration loop", LOOP, json!({}), runs),
        ("plan: JSON transform, 5 MB", TRANSFORM, big_state(), runs),
    ] {
        let plan = json!({"workflow": {"steps": [{"id": "a", "expression": job}]}});
        let (w, out) = time(n, || {
            Ok(sandbox.run_plan(&plan, Some(&state), &options, limits)?)
        })?;
        anyhow::ensure!(out.error.is_none(), "wasm: {:?}", out.error);
        let parsed: openfn_runtime::ExecutionPlan = serde_json::from_value(plan.clone())?;
        let (nat, native_state) = time(n, || {
            let run_options = openfn_runtime::RunOptions {
                adaptor_host: std::rc::Rc::new(host.clone()),
                ..openfn_runtime::RunOptions::default()
            };
            let input = openfn_runtime::Input::State(openfn_runtime::StateJson::from_value(&state));
            let outcome = rt.block_on(openfn_runtime::run(
                &parsed,
                input,
                run_options,
                std::rc::Rc::new(openfn_runtime::NoCallbacks),
            ))?;
            Ok(outcome.state.map(|s| s.to_value()).transpose()?)
        })?;
        println!(
            "{name:28} wasm {w:>12.3?}  native {nat:>12.3?}  ratio {:.2}x  fuel {}  same result: {}",
            w.as_secs_f64() / nat.as_secs_f64(),
            out.fuel_used,
            native_state == out.state
        );
    }
    Ok(())
}
