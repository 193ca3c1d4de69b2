//! `openfn --sandbox wasm` (the `wasm` feature): a job without adaptors runs on the wasm tier;
//! adaptors are refused with a clear error. Needs the guest (crates/sandbox-wasm-guest/build.sh).
#![cfg(feature = "wasm")]

use assert_cmd::Command;
use predicates::str::contains;

fn openfn(dir: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("openfn").expect("openfn binary");
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("OPENFN_WASM_CACHE", dir.join("wasm-cache"))
        .env_remove("OPENFN_SANDBOX");
    cmd
}

#[test]
fn a_job_without_adaptors_runs_on_the_wasm_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("job.js"),
        "export default [(state) => { console.log('on wasm'); return { ...state, data: { n: state.data.n + 1 } }; }];\n",
    )
    .expect("job");
    openfn(dir.path())
        .args([
            "job.js",
            "--sandbox",
            "wasm",
            "-S",
            r#"{"data":{"n":1}}"#,
            "-O",
        ])
        .assert()
        .success()
        .stdout(contains("on wasm"))
        .stdout(contains(r#""n": 2"#));
}

#[test]
fn adaptors_are_refused_on_the_wasm_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("job.js"), "fn(s => s);\n").expect("job");
    openfn(dir.path())
        .args(["job.js", "--sandbox", "wasm", "-a", "common"])
        .assert()
        .failure()
        .stderr(contains(
            "adaptors are not supported on the wasm sandbox tier yet",
        ));
}

#[test]
fn a_thrown_error_fails_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("job.js"),
        "export default [(s) => { throw new Error('nope'); }];\n",
    )
    .expect("job");
    openfn(dir.path())
        .args(["job.js", "--sandbox", "wasm"])
        .assert()
        .failure()
        .stdout(contains("JobError: nope"));
}
