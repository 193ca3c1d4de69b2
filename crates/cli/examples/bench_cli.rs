//! Benchmark: cold process start to exit of `openfn job.js -a common` for a trivial job with the
//! adaptor already available (here the runtime's small test adaptor, linked with `common=<dir>`,
//! and, when `BENCH_REPO_DIR` holds an installed `@openfn/language-common`, the real one).
//! Also times the kit CLI when `KIT_OPENFN` names its `openfn` executable. Prints medians.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 21;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time(mut make: impl FnMut() -> Command) -> f64 {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
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
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "openfn-cli",
            "--bin",
            "openfn",
        ])
        .current_dir(&root)
        .status()
        .expect("cargo build");
    assert!(status.success());
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let openfn = target.join("release/openfn");
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
        let ms = time(|| {
            let mut c = Command::new(&openfn);
            c.arg(&job)
                .args(["-a", "common", "-O", "--log", "none", "--repo-dir"])
                .arg(&repo);
            c
        });
        println!(
            "openfn job.js -a common (installed language-common): median {ms:.1} ms over {RUNS} runs"
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
