//! `openfn --sandbox wasm` (the `wasm` feature): jobs and workflows, with adaptors, run on the
//! wasm tier through the same runtime as the native tier, and print the same output (a
//! differential test; durations and the install lines masked). Needs the guest
//! (crates/sandbox-wasm-guest/build.sh) and, for the real adaptor, the npm registry.
#![cfg(feature = "wasm")]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repo shared by these tests (language-common 3.3.4 is installed once).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-sandbox-repo")
}

fn openfn(dir: &Path, sandbox: &str) -> Command {
    let mut cmd = Command::cargo_bin("openfn").expect("openfn binary");
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("OPENFN_REPO_DIR", repo())
        .env("OPENFN_WASM_CACHE", repo().join("wasm-cache"))
        .env("NO_COLOR", "1")
        .env_remove("OPENFN_LOG_JSON")
        .env_remove("OPENFN_ALWAYS_CACHE_STEPS")
        .env_remove("OPENFN_SANDBOX")
        .args(["--sandbox", sandbox]);
    cmd
}

/// The output with what differs run to run masked: durations and install lines (the first run
/// installs).
fn masked(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| !l.contains("Installed @openfn") && !l.contains("Installation complete"))
        .map(mask_durations)
        .collect::<Vec<_>>()
        .join("\n")
}

fn mask_durations(line: &str) -> String {
    let words: Vec<String> = line
        .split(' ')
        .map(|w| {
            let w = w.trim_end_matches('.');
            let digits = w.trim_end_matches(['m', 's', ')']);
            let is_time = !digits.is_empty()
                && digits
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '(')
                && (w.ends_with("ms")
                    || w.ends_with('s')
                    || w.ends_with("ms)")
                    || w.ends_with("s)"));
            if is_time {
                "<t>".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// Runs `args` on both tiers; asserts the same exit status and output; returns the output.
fn same_on_both(dir: &Path, args: &[&str]) -> (bool, String) {
    let native = openfn(dir, "native")
        .args(args)
        .output()
        .expect("native run");
    let wasm = openfn(dir, "wasm").args(args).output().expect("wasm run");
    assert_eq!(
        masked(&wasm),
        masked(&native),
        "wasm (left) and native (right) differ"
    );
    assert_eq!(wasm.status.code(), native.status.code());
    (wasm.status.success(), masked(&wasm))
}

#[test]
fn a_job_without_adaptors_runs_on_the_wasm_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("job.js"),
        "export default [(state) => { console.log('on wasm'); return { ...state, data: { n: state.data.n + 1 } }; }];\n",
    )
    .expect("job");
    let (ok, out) = same_on_both(dir.path(), &["job.js", "-S", r#"{"data":{"n":1}}"#, "-O"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("on wasm") && out.contains(r#""n": 2"#),
        "{out}"
    );
}

#[test]
fn a_thrown_error_is_reported_in_the_state_as_on_the_native_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("job.js"),
        "export default [(s) => { throw new Error('nope'); }];\n",
    )
    .expect("job");
    let (_, out) = same_on_both(dir.path(), &["job.js", "-O"]);
    assert!(out.contains("[R/T] ✘ nope"), "{out}");
}

#[test]
fn a_workflow_with_language_common_and_an_edge_condition_matches_the_native_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    let common = "@openfn/language-common@3.3.4";
    let plan = serde_json::json!({ "workflow": { "steps": [
        { "id": "a", "adaptors": [common],
          "expression": "fn(s => ({ ...s, items: [1, 2, 3, 4] }));\neach('$.items[*]', fn(s => { console.log('item', s.data); return s; }));\nfn(s => ({ ...s, total: s.items.reduce((a, b) => a + b, 0), year: dateFns.format(new Date(0), 'yyyy') }));",
          "next": { "b": { "condition": "state.total > 5" }, "c": { "condition": "state.total > 50" } } },
        { "id": "b", "adaptors": [common],
          "expression": "fn(s => new Promise(r => setTimeout(() => r({ ...s, big: true }), 20)));\nfn(s => { console.log(s.total); return s; });" },
        { "id": "c", "adaptors": [common], "expression": "fn(s => ({ ...s, huge: true }));" }
    ] } });
    std::fs::write(dir.path().join("wf.json"), plan.to_string()).expect("workflow");
    // installs once (native first), then both tiers load the same files
    let (ok, out) = same_on_both(dir.path(), &["wf.json", "-O"]);
    assert!(ok, "{out}");
    for want in [
        "[JOB] ℹ item 4",
        "[JOB] ℹ 10",
        r#""big": true"#,
        r#""year": "1970""#,
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    assert!(!out.contains("huge"), "{out}");
}

#[test]
fn a_crash_in_an_adaptor_workflow_matches_the_native_tier() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = serde_json::json!({ "workflow": { "steps": [
        { "id": "a", "adaptors": ["@openfn/language-common@3.3.4"],
          "expression": "fn(s => { nothing.here = 1; return s; });" }
    ] } });
    std::fs::write(dir.path().join("wf.json"), plan.to_string()).expect("workflow");
    let (ok, out) = same_on_both(dir.path(), &["wf.json", "-O"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("ReferenceError: nothing is not defined"),
        "{out}"
    );
}

#[test]
fn an_error_thrown_in_adaptor_code_reads_as_v8s_on_both_tiers() {
    // the message and the adaptor frames' columns come from the adaptor's source, which the
    // wasm guest reads through its host
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = serde_json::json!({ "workflow": { "steps": [
        { "id": "a", "adaptors": ["@openfn/language-common@3.3.4"], "expression": "fn(42);" }
    ] } });
    std::fs::write(dir.path().join("wf.json"), plan.to_string()).expect("workflow");
    // an adaptor error fails the step, not the run
    let (_, out) = same_on_both(dir.path(), &["wf.json", "-O"]);
    assert!(out.contains("TypeError: func is not a function"), "{out}");
    assert!(out.contains("    @openfn/language-common"), "{out}");
}
