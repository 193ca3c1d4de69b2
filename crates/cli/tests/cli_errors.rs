//! Bad input gives one clear line and exit code 1, never a panic or a backtrace.

mod common;

use common::{Env, stderr};

fn assert_clean_error(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let err = stderr(out);
    assert!(err.contains(needle), "expected {needle:?} in {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let env = Env::new();
    let out = env
        .openfn()
        .args(["nope.js", "-a", "common"])
        .output()
        .unwrap();
    assert_clean_error(&out, "file not found: nope.js");
}

#[test]
fn bad_json_and_yaml_say_where() {
    let env = Env::new();
    let json = env.path().join("bad.json");
    std::fs::write(&json, "{\n  \"steps\": [\n    { \"id\": \"a\" \n  ]\n}").unwrap();
    let out = env.openfn().arg(&json).output().unwrap();
    assert_clean_error(&out, "invalid JSON");
    assert!(stderr(&out).contains("line 4"), "{}", stderr(&out));

    let yaml = env.path().join("bad.yaml");
    std::fs::write(&yaml, "steps:\n  - id: a\n   expression: x\n").unwrap();
    let out = env.openfn().arg(&yaml).output().unwrap();
    assert_clean_error(&out, "invalid YAML");
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));
}

#[test]
fn adaptor_with_a_workflow_is_refused() {
    let env = Env::new();
    let ex = env.examples();
    let out = env
        .openfn()
        .arg(ex.join("workflow.json"))
        .args(["-a", "common"])
        .output()
        .unwrap();
    assert_clean_error(&out, "adaptor and workflow provided");
}

#[test]
fn bad_state_and_log_specs() {
    let env = Env::new();
    let out = env.openfn().args(["test", "-S", "{nope"]).output().unwrap();
    assert_clean_error(&out, "invalid JSON in --state-stdin");
    let out = env.openfn().args(["test", "-l", "loud"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("unknown log level `loud`"));
}

/// Runs `fn(s => s);` with adaptor `adaptor` against an unreachable registry (installing fails
/// fast); returns stderr after checking the exit code and that the failure is said once.
fn run_with_uninstallable_adaptor(adaptor: &str) -> String {
    let env = Env::new();
    let job = env.path().join("job.js");
    std::fs::write(&job, "fn(s => s);").unwrap();
    let out = env
        .openfn()
        .arg(&job)
        .args(["-a", adaptor])
        .env("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = common::stdout(&out);
    assert!(!text.contains("install"), "not on stdout: {text}");
    let err = stderr(&out);
    assert_eq!(err.matches("cannot install").count(), 1, "once: {err}");
    err
}

#[test]
fn a_missing_adaptor_version_fails_the_run_once_on_stderr() {
    let text = run_with_uninstallable_adaptor("common@0.0.0-does-not-exist");
    assert!(
        text.contains("Error: cannot install @openfn/language-common@0.0.0-does-not-exist: registry unreachable"),
        "{text}"
    );
}

#[test]
fn an_adaptor_without_a_version_is_named_without_a_dangling_at() {
    let text = run_with_uninstallable_adaptor("nothere");
    assert!(
        text.contains("cannot install @openfn/language-nothere: "),
        "{text}"
    );
    assert!(!text.contains("language-nothere@:"), "{text}");
}
