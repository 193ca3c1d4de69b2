//! Benchmark: cold process start to exit of `openfn job.js -a common` for a trivial job with the
//! adaptor already available (here the runtime's small test adaptor, linked with `common=<dir>`,
//! and, when `BENCH_REPO_DIR` holds an installed `@openfn/language-common`, the real one).
//! Also times the kit CLI when `KIT_OPENFN` names its `openfn` executable. Prints medians.
//!
//! With `BENCH_REPO_DIR`, it times `-a common@3.3.4` (pinned) and `-a common` (`latest`,
//! answered from the repo's dist-tag cache after a first run) with the adaptor tree cache warm,
//! the same pinned run with the tree cache removed before each run (the per-file path), the
//! no-adaptor floor (`(s) => s` alone: CLI, child spawn and handshake, compile, runtime), and
//! prints the split. It also passes an 11 MB state through a three-step workflow on
//! language-common (`-s state.json -o out.json`), the big-state case of the issue.
//!
//! Run: `cargo xtask bench cli` (builds the release `openfn` first).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 21;
/// Rounds of the big-state case (each takes a while).
const BIG_RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(make: impl FnMut() -> Command) -> f64 {
    time_n(RUNS, make)
}

fn time_n(runs: usize, mut make: impl FnMut() -> Command) -> f64 {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = make().output().expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    median(times)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The release `openfn` next to this example (`target/release/examples/..`), built by
    // `cargo xtask bench` before it runs the examples: no cargo is started from here.
    let openfn = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("openfn")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "no release `openfn` next to this example: run it through `cargo xtask bench cli`"
            )
        });
    let dir = tempfile::tempdir().expect("tmp");
    let job = dir.path().join("job.js");
    std::fs::write(&job, "fn(s => s);").expect("write job");
    let fixture = root.join("crates/runtime/tests/fixtures/adaptor/@openfn/language-common");
    let adaptor = format!("common={}", fixture.display());

    let ms = time(|| {
        let mut c = Command::new(&openfn);
        c.arg(&job).args(["-a", &adaptor, "-O", "--log", "none"]);
        c
    });
    println!("openfn job.js -a common=<test adaptor>: median {ms:.1} ms over {RUNS} runs");
    let ms = time(|| {
        let mut c = Command::new(&openfn);
        c.arg("test").args(["--log", "none"]);
        c
    });
    println!("openfn test: median {ms:.1} ms over {RUNS} runs");

    if let Some(repo) = std::env::var_os("BENCH_REPO_DIR") {
        let repo = std::path::PathBuf::from(repo);
        let plain = dir.path().join("plain.js");
        std::fs::write(&plain, "(s) => s;").expect("write job");
        let run = |job: &Path, adaptor: Option<&str>| {
            let mut c = Command::new(&openfn);
            c.arg(job);
            if let Some(a) = adaptor {
                c.args(["-a", a]);
            }
            c.args(["-O", "--log", "none", "--repo-dir"]).arg(&repo);
            c
        };
        // warm-up: the tree cache and the dist-tag cache are written by the first runs
        for adaptor in ["common@3.3.4", "common"] {
            let out = run(&job, Some(adaptor)).output().expect("run");
            assert!(out.status.success(), "warm-up of -a {adaptor} failed");
        }
        let floor = time(|| run(&plain, None));
        println!("openfn (s) => s, no adaptor (the floor): median {floor:.1} ms over {RUNS} runs");
        let pinned = time(|| run(&job, Some("common@3.3.4")));
        println!(
            "openfn job.js -a common@3.3.4 (installed, tree cache warm): median {pinned:.1} ms over {RUNS} runs"
        );
        let latest = time(|| run(&job, Some("common")));
        println!(
            "openfn job.js -a common (`latest` from the dist-tag cache, tree cache warm): median {latest:.1} ms over {RUNS} runs"
        );
        let trees = repo.join("node_modules/.cache/openfn-bytecode/trees");
        let cold = time(|| {
            let _ = std::fs::remove_dir_all(&trees);
            run(&job, Some("common@3.3.4"))
        });
        println!(
            "openfn job.js -a common@3.3.4, tree cache removed before each run (per-file bytecode): median {cold:.1} ms over {RUNS} runs"
        );
        println!(
            "split (pinned, warm): floor {floor:.1} ms + adaptor tree load and evaluation {:.1} ms; `latest` adds {:.1} ms; the tree cache saves {:.1} ms",
            pinned - floor,
            latest - pinned,
            cold - pinned
        );
        let (workflow, state) = big_state_case(dir.path());
        let out = dir.path().join("out.json");
        let ms = time_n(BIG_RUNS, || {
            let mut c = Command::new(&openfn);
            c.arg(&workflow)
                .arg("-s")
                .arg(&state)
                .arg("-o")
                .arg(&out)
                .args(["--log", "none", "--repo-dir"])
                .arg(&repo);
            c
        });
        let size = std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0);
        println!(
            "openfn workflow.json -s <{:.1} MB state>, 3 steps on language-common: median {ms:.0} ms over {BIG_RUNS} runs",
            size as f64 / 1e6
        );
    }
    if let Some(kit) = std::env::var_os("KIT_OPENFN") {
        let ms = time(|| {
            let mut c = Command::new(&kit);
            c.arg(&job).args(["-a", "common", "-O", "--log", "none"]);
            c
        });
        println!("kit openfn job.js -a common: median {ms:.1} ms over {RUNS} runs");
    }
}

/// A three-step workflow on language-common that passes (and touches) an 11 MB state, and the
/// state file.
fn big_state_case(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let common = "@openfn/language-common@3.3.4";
    let step = |id: &str, next: Option<&str>| {
        let mut s = serde_json::json!({
            "id": id,
            "adaptors": [common],
            "expression": format!("fn(s => {{ s.data.step = '{id}'; return s; }})"),
        });
        if let Some(n) = next {
            s["next"] = serde_json::json!({ n: true });
        }
        s
    };
    let workflow = serde_json::json!({ "workflow": { "steps": [
        step("a", Some("b")), step("b", Some("c")), step("c", None)
    ] } });
    let records: Vec<serde_json::Value> = (0..80_000)
        .map(|i| {
            serde_json::json!({
                "id": i,
                "name": format!("patient-{i}"),
                "tags": ["a", "b", "c"],
                "score": i as f64 * 1.5,
                "visit": { "date": "2024-01-01T00:00:00Z", "ok": i % 2 == 0, "notes": "lorem ipsum dolor sit amet" }
            })
        })
        .collect();
    let state = serde_json::json!({ "data": { "records": records } });
    let wf = dir.join("workflow.json");
    let st = dir.join("state.json");
    std::fs::write(&wf, workflow.to_string()).expect("write workflow");
    std::fs::write(&st, state.to_string()).expect("write state");
    (wf, st)
}
