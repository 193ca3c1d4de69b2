//! The wasm tier against native QuickJS (rquickjs in-process, the same JS driver): per-run
//! overhead, a 10M-iteration loop and a JSON transform of a ~5 MB state; the same with fuel
//! metering off (what metering costs); and plan mode (the whole openfn-runtime in the guest)
//! against openfn-runtime natively.
//!
//! `crates/sandbox-wasm-guest/build.sh && cargo run -p openfn-sandbox-wasm --features wasm
//! --example wasm_bench [runs]` (dependencies, wasmtime's Cranelift and QuickJS' C, are built
//! optimised even in the dev profile; the job code is JIT-compiled wasm or the C interpreter).

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
    plan_mode(&sandbox, runs, &limits)
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
