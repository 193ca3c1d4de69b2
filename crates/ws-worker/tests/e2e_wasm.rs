//! `ws-worker --sandbox wasm` (the `wasm` feature) through the binaries, against the
//! lightning-mock: a workflow with the real language-common runs on the wasm tier, and what
//! Lightning records (run outcome, each step's fields, output dataclips and log lines) is what
//! the same plan records under `--sandbox native` (a differential test; durations and the
//! known differences masked). The steps' fuel is counted in `/metrics`, never sent.
//! Needs the guest (crates/sandbox-wasm-guest/build.sh) and, for the first install of
//! language-common, the npm registry.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use support::Harness;
use support::binary::{Procs, post_run, spawn, wait_status_within};

const COMMON: &str = "@openfn/language-common@3.3.4";

/// The repo shared by both workers (language-common installed once, by the first run).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-wasm-repo")
}

fn plan(bodies: &[&str]) -> Value {
    let jobs: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({ "id": format!("j{}", i + 1), "name": format!("step {}", i + 1),
                "adaptor": COMMON, "body": body, "credential_id": null })
        })
        .collect();
    let mut edges = vec![
        json!({ "id": "e0", "source_trigger_id": "t", "source_job_id": null,
        "target_job_id": "j1", "condition": "always", "enabled": true }),
    ];
    for i in 1..bodies.len() {
        edges.push(json!({ "id": format!("e{i}"), "source_trigger_id": null,
            "source_job_id": format!("j{i}"), "target_job_id": format!("j{}", i + 1),
            "condition": "on_job_success", "enabled": true }));
    }
    json!({ "triggers": [{ "id": "t" }], "jobs": jobs, "edges": edges,
        "starting_node_id": "t", "dataclip_id": null, "options": {} })
}

fn plans() -> Vec<Value> {
    vec![
        plan(&[
            "fn(s => { console.log('hello', { n: 1 }); return { ...s, items: [1, 2, 3] }; });\neach('$.items[*]', fn(s => { console.log('item', s.data); return s; }));",
            "fn(s => new Promise(r => setTimeout(() => r({ ...s, data: { total: s.items.reduce((a, b) => a + b, 0), year: dateFns.format(new Date(0), 'yyyy'), meta: [typeof meta.runId, typeof meta.startTime] } }), 10)));",
        ]),
        plan(&[
            "fn(s => { console.warn('about to throw'); throw new Error('boom'); });",
            "fn(s => s);",
        ]),
        plan(&["fn(s => { nothing.here = 1; return s; });"]),
    ]
}

/// A log line with what differs run to run (durations, memory, the first run's install)
/// masked; `None` for a line that is a known difference between the tiers.
fn masked_line(line: &str) -> Option<String> {
    if line.contains("Step memory usage") || line.starts_with("Installed adaptor") {
        return None;
    }
    // adaptor frames in stacks: no `?cache=<run id>` key, and QuickJS' column (kept)
    let line = line
        .replace("?cache=<run id>", "")
        .split('\n')
        .map(|part| match part.rsplit_once(':') {
            Some((head, col))
                if part.starts_with("    @") && col.chars().all(|c| c.is_ascii_digit()) =>
            {
                format!("{head}:<col>")
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let words: Vec<String> = line
        .split(' ')
        .map(|w| {
            let digits = w
                .trim_start_matches('(')
                .trim_end_matches([')', 's', 'm', '.', ',']);
            if !digits.is_empty()
                && digits.chars().any(|c| c.is_ascii_digit())
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                && w != digits
            {
                "<time>".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    Some(words.join(" "))
}

/// What Lightning recorded of a run that can be compared across tiers.
fn recorded(run: &Value) -> Value {
    let steps: Vec<Value> = run["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|step| {
                    let step = step.as_object().cloned().unwrap_or_default();
                    let keys: Vec<&String> = step.keys().collect();
                    let dataclip = step
                        .get("output_dataclip")
                        .and_then(Value::as_str)
                        .and_then(|t| serde_json::from_str::<Value>(t).ok());
                    let pick = |k: &str| step.get(k).cloned().unwrap_or(Value::Null);
                    json!({ "keys": keys, "job_id": pick("job_id"), "reason": pick("reason"),
                        "error_type": pick("error_type"), "error_message": pick("error_message"),
                        "output_dataclip": dataclip })
                })
                .collect()
        })
        .unwrap_or_default();
    let id = run["id"].as_str().unwrap_or("?");
    let logs: Vec<String> = Harness::log_texts(run)
        .iter()
        .filter_map(|l| masked_line(&l.replace(id, "<run id>")))
        .collect();
    let sources: Vec<Value> = run["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|line| {
                    masked_line(&Harness::log_texts(&json!({ "logs": [line] }))[0]).is_some()
                })
                .map(|line| json!([line["source"], line["level"]]))
                .collect()
        })
        .unwrap_or_default();
    json!({ "reason": run["reason"], "error_type": run["error_type"],
        "error_message": run["error_message"], "final_state": run["final_state"],
        "steps": steps, "logs": logs, "sources": sources })
}

/// The lines where the pretty JSON of `wasm` and `native` differ.
fn differences(wasm: &Value, native: &Value) -> Vec<String> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let (w, n) = (pretty(wasm), pretty(native));
    let (w, n): (Vec<&str>, Vec<&str>) = (w.lines().collect(), n.lines().collect());
    let mut out = Vec::new();
    for i in 0..w.len().max(n.len()) {
        let (a, b) = (w.get(i).copied(), n.get(i).copied());
        if a != b {
            out.push(format!("{i}: wasm {a:?} / native {b:?}"));
        }
    }
    out
}

async fn run_all(p: &Procs) -> Vec<Value> {
    let mut out = Vec::new();
    for plan in plans() {
        let id = post_run(p, &plan).await;
        let run = wait_status_within(p, &id, "complete", Duration::from_secs(180)).await;
        out.push(run);
    }
    out
}

async fn worker(sandbox: &str) -> Procs {
    let repo = format!("--repo-dir={}", repo().display());
    let sandbox = format!("--sandbox={sandbox}");
    spawn(&[&repo, &sandbox]).await
}

#[tokio::test]
async fn the_wasm_tier_records_what_the_native_tier_records() {
    let mut native = worker("native").await;
    let native_runs = run_all(&native).await;
    let native_fuel = native.metric("openfn_worker_wasm_fuel_total").await;
    let _ = native.worker.kill().await;
    let _ = native.mock.kill().await;
    assert_eq!(
        native_runs[0]["final_state"]["data"]["meta"],
        json!(["string", "number"]),
        "the worker's meta globals: {:#}",
        native_runs[0]
    );
    assert_eq!(
        native_runs[0]["final_state"]["data"]["total"],
        json!(6),
        "{:#}",
        native_runs[0]
    );
    assert_eq!(native_fuel, 0.0);

    let mut wasm = worker("wasm").await;
    let wasm_runs = run_all(&wasm).await;
    let fuel = wasm.metric("openfn_worker_wasm_fuel_total").await;
    let log = wasm.worker_log();
    let _ = wasm.worker.kill().await;
    let _ = wasm.mock.kill().await;
    for (n, w) in native_runs.iter().zip(&wasm_runs) {
        let (n, w) = (recorded(n), recorded(w));
        let diff = differences(&w, &n);
        assert!(diff.is_empty(), "wasm vs native:\n{}", diff.join("\n"));
    }
    assert_eq!(wasm_runs[1]["steps"][0]["error_type"], json!("JobError"));
    assert!(fuel > 0.0, "no fuel counted:\n{log}");
    // fuel stays off Lightning's wire
    for run in &wasm_runs {
        for step in run["steps"].as_array().into_iter().flatten() {
            let step: &Map<String, Value> = step.as_object().expect("step");
            assert!(!step.keys().any(|k| k.contains("fuel")), "{step:?}");
        }
    }
}

/// A guest module that is not one stops a `--sandbox wasm` worker at start-up (exit 1), naming
/// the file, before anything is claimed.
#[tokio::test]
async fn a_broken_guest_stops_the_worker_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let guest = dir.path().join("openfn-sandbox-wasm-guest.wasm");
    std::fs::write(&guest, b"not wasm").expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ws-worker"))
        .args([
            "-l",
            "ws://127.0.0.1:9/worker",
            "--sandbox",
            "wasm",
            "--port=0",
        ])
        .env("WORKER_SECRET", "s3cret")
        .env("OPENFN_WASM_GUEST", &guest)
        .env("OPENFN_WASM_CACHE", dir.path().join("cache"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the worker stopped")
        .expect("ws-worker runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot load its guest") && err.contains(&*guest.to_string_lossy()),
        "{err}"
    );
}
