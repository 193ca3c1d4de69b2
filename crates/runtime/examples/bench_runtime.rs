//! Runtime benchmark: per-step overhead of a trivial `fn(s => s)` step (context creation,
//! module instantiation, state in/out) and a data-heavy workflow (a 10 MB JSON array through
//! 3 steps), the latter next to `node` running the same operations with the kit's JSON cloning
//! between steps. Prints medians of repeated runs.
//!
//! Run with `cargo run --release -p openfn-runtime --example bench_runtime`.

use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::cell::RefCell;

use openfn_runtime::{
    Callbacks, Event, ExecutionPlan, Input, ModuleInfo, NoCallbacks, RunOptions, StateJson, run,
};
use serde_json::json;

fn adaptor_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adaptor/@openfn/language-common")
}

fn options() -> RunOptions {
    let mut o = RunOptions::default();
    o.modules.insert(
        "@openfn/language-common".into(),
        ModuleInfo {
            path: Some(adaptor_dir().to_string_lossy().into_owned()),
            version: None,
        },
    );
    o
}

const TRIVIAL: &str = "import { fn } from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [fn(s => s)];";

const HEAVY_OP: &str =
    "s => { s.data.items = s.data.items.map(x => ({ ...x, n: x.n + 1 })); return s; }";

fn chain(n: usize, expression: &str) -> ExecutionPlan {
    let steps: Vec<_> = (0..n)
        .map(|i| {
            let mut step = json!({ "id": format!("s{i}"), "expression": expression });
            if i + 1 < n {
                step["next"] = json!(format!("s{}", i + 1));
            }
            step
        })
        .collect();
    serde_json::from_value(json!({ "workflow": { "steps": steps } })).expect("plan")
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}

fn run_plan(plan: &ExecutionPlan, input: Input) -> Duration {
    let start = Instant::now();
    let out = block(run(plan, input, options(), Rc::new(NoCallbacks)));
    assert!(out.is_ok(), "{out:?}");
    start.elapsed()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn heavy_input() -> String {
    let items: Vec<_> = (0..130_000)
        .map(|i| json!({ "id": i, "n": i, "name": format!("item number {i}"), "tags": ["a", "b", "c"], "ok": true }))
        .collect();
    json!({ "data": { "items": items } }).to_string()
}

/// Timestamps every `init-start` event.
#[derive(Default)]
struct Stamps(RefCell<Vec<Instant>>);

impl Callbacks for Stamps {
    fn notify(&self, event: Event) -> impl std::future::Future<Output = ()> {
        if matches!(event, Event::InitStart { .. }) {
            self.0.borrow_mut().push(Instant::now());
        }
        async {}
    }
}

fn overhead() {
    // one run of one step: runtime + realms + adaptor load + step
    let one = chain(1, TRIVIAL);
    let _ = run_plan(&one, Input::Empty);
    let singles: Vec<Duration> = (0..50).map(|_| run_plan(&one, Input::Empty)).collect();
    // per additional step: (run of 101 steps - run of 1 step) / 100
    let many = chain(101, TRIVIAL);
    let manys: Vec<Duration> = (0..9).map(|_| run_plan(&many, Input::Empty)).collect();
    let single = median(singles);
    let per_step = (median(manys).saturating_sub(single)) / 100;
    // median of the time from one step's start to the next one's (everything a step costs)
    let stamps = Rc::new(Stamps::default());
    let out = block(run(&many, Input::Empty, options(), stamps.clone()));
    assert!(out.is_ok());
    let s = stamps.0.borrow();
    let cycles: Vec<Duration> = s.windows(2).map(|w| w[1] - w[0]).collect();
    println!(
        "whole 1-step run (runtime, realms, adaptor load, step): {:.3} ms",
        single.as_secs_f64() * 1e3
    );
    println!(
        "per trivial step, median step-to-step (fresh context, prelude, module, state in/out, gc): {:.3} ms",
        median(cycles).as_secs_f64() * 1e3
    );
    println!(
        "per trivial step, mean over a 101-step run: {:.3} ms",
        per_step.as_secs_f64() * 1e3
    );
}

fn heavy() {
    let input = heavy_input();
    let mb = input.len() as f64 / 1024.0 / 1024.0;
    let expression = format!(
        "import {{ fn }} from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [fn({HEAVY_OP})];"
    );
    let plan = chain(3, &expression);
    let times: Vec<Duration> = (0..5)
        .map(|_| run_plan(&plan, Input::State(StateJson::from_text(input.clone()))))
        .collect();
    println!(
        "rust: {mb:.1} MB JSON array through 3 steps: {:.1} ms (median of 5), peak RSS {} MB",
        median(times).as_secs_f64() * 1e3,
        peak_rss_kb() / 1024
    );
}

fn node_heavy() {
    let dir = std::env::temp_dir().join(format!("bench-runtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let input_path = dir.join("input.json");
    std::fs::write(&input_path, heavy_input()).expect("write input");
    let script = format!(
        r#"
const fs = require('fs');
const text = fs.readFileSync({input:?}, 'utf8');
const op = {HEAVY_OP};
const runOnce = () => {{
  let s = JSON.parse(text);
  for (let i = 0; i < 3; i++) {{
    s = JSON.parse(JSON.stringify(Object.assign({{}}, s, {{ configuration: {{}} }})));
    s = op(s);
    delete s.configuration;
    s = JSON.parse(JSON.stringify(s));
  }}
  return JSON.stringify(s).length;
}};
const times = [];
for (let i = 0; i < 5; i++) {{ const t = process.hrtime.bigint(); runOnce(); times.push(Number(process.hrtime.bigint() - t) / 1e6); }}
times.sort((a, b) => a - b);
console.log(`node: same 3 steps: ${{times[2].toFixed(1)}} ms (median of 5), peak RSS ${{Math.round(process.resourceUsage().maxRSS / 1024)}} MB`);
"#,
        input = input_path.to_string_lossy()
    );
    match Command::new("node").arg("-e").arg(script).output() {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => println!("node not available: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("overhead") => overhead(),
        Some("heavy") => heavy(),
        Some("node") => node_heavy(),
        _ => {
            // each part in its own process so peak RSS figures do not mix
            let me = std::env::current_exe().expect("exe");
            for part in ["overhead", "heavy", "node"] {
                let status = Command::new(&me).arg(part).status().expect("spawn");
                assert!(status.success(), "{part} failed");
            }
        }
    }
}
