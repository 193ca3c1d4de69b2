//! End to end through the real engine: the run limits and the run-level error classes. Each
//! test runs job code in the engine's child processes (the `ws-worker` binary), and checks
//! what Lightning records; after each failure the same worker runs another job, so the engine's
//! pool has healed.

mod support;

use std::time::Duration;

use openfn_lightning_mock::Config as MockConfig;
use serde_json::{Value, json};
use support::{Harness, job, start};
use tokio::sync::broadcast::error::RecvError;

const T: Duration = Duration::from_secs(30);

fn steps(run: &Value) -> Vec<Value> {
    run["steps"].as_array().cloned().unwrap_or_default()
}

/// A job that must still succeed on the same worker after a failed run.
async fn still_runs(h: &Harness) {
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { after: true } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"after": true}}));
}

/// `reason`, `error_type` and `error_message` as Lightning records them.
fn exit(run: &Value) -> (String, String, String) {
    let s = |k: &str| run[k].as_str().unwrap_or("<none>").to_string();
    (s("reason"), s("error_type"), s("error_message"))
}

#[tokio::test]
async fn a_reference_error_crashes_the_run() {
    let h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(job("export default [s => x.y]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(
        exit(&run),
        (
            "crash".into(),
            // The kit's runtime wraps the JS error in RuntimeCrash for the run; the step keeps
            // the JS error's name (docs/protocol.md §4.3).
            "RuntimeCrash".into(),
            "ReferenceError: x is not defined".into()
        ),
        "{run:#}"
    );
    assert!(run["final_state"].is_null(), "{run:#}");
    let s = steps(&run);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "crash");
    assert_eq!(s[0]["error_type"], "ReferenceError");
    still_runs(&h).await;
}

#[tokio::test]
async fn a_run_over_its_timeout_is_killed() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = job("export default [s => { while (true) {} }]");
    plan["options"] = json!({"run_timeout_ms": 300});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(
        exit(&run),
        (
            "kill".into(),
            "TimeoutError".into(),
            "Workflow failed to return within 300ms".into()
        ),
        "{run:#}"
    );
    assert!(run["final_state"].is_null(), "{run:#}");
    let s = steps(&run);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "kill", "{s:?}");
    still_runs(&h).await;
}

#[tokio::test]
async fn a_run_over_its_memory_limit_is_killed() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = job(
        "export default [s => { const a = []; while (true) a.push('x'.repeat(1 << 20) + a.length); }]",
    );
    plan["options"] = json!({"run_memory_limit_mb": 64});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(
        exit(&run),
        (
            "kill".into(),
            "OOMError".into(),
            "Run exceeded maximum memory usage".into()
        ),
        "{run:#}"
    );
    assert!(run["final_state"].is_null(), "{run:#}");
    let logs = Harness::log_texts(&run);
    assert!(logs.iter().any(|l| l == "Memory limit: 64mb"), "{logs:?}");
    still_runs(&h).await;
}

/// The pids of this process' engine children.
fn engine_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid …`: comm may hold spaces, so split after its `)`.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid.as_deref() == Some(me.as_str())
                && String::from_utf8_lossy(&cmdline).contains(openfn_engine::CHILD_FLAG)
        })
        .collect()
}

#[tokio::test]
async fn a_child_that_dies_mid_run_is_an_exit_error() {
    let mut h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(job("export default [s => { while (true) {} }]"))
        .expect("enqueue");
    // The step has started in a child (the mock's step:start event): kill that child.
    tokio::time::timeout(T, async {
        loop {
            match h.events.recv().await {
                Ok(e) if e.name == "step:start" && e.data["runId"] == id.as_str() => break,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the mock's event stream ended"),
            }
        }
    })
    .await
    .expect("no step:start");
    let children = engine_children();
    assert_eq!(children.len(), 1, "{children:?}");
    let status = std::process::Command::new("kill")
        .args(["-KILL", &children[0].to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let run = h.wait_final(&id, T).await;
    assert_eq!(
        exit(&run),
        (
            "crash".into(),
            "ExitError".into(),
            "Process exited with code: 137".into()
        ),
        "{run:#}"
    );
    still_runs(&h).await;
    assert_ne!(engine_children(), children, "the dead child was replaced");
}

/// `j1` succeeds with a big state, then `j2` fails.
fn two_steps(limit: Value) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [
            {"id": "j1", "adaptor": "", "body": "export default [s => ({ data: { big: 'x'.repeat(2000) } })]"},
            {"id": "j2", "adaptor": "", "body": "export default [s => { throw new Error('boom ' + s.data.big.length); }]"}
        ],
        "edges": [
            {"id": "e0", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always", "enabled": true},
            {"id": "e1", "source_job_id": "j1", "target_job_id": "j2", "condition": "on_job_success", "enabled": true}
        ],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": limit
    })
}

#[tokio::test]
async fn dataclips_over_the_payload_limit_are_withheld() {
    let h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(two_steps(json!({"payload_limit_mb": 0})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    // The state still flowed from j1 to j2 inside the engine: only Lightning's copy is withheld.
    assert_eq!(
        exit(&run),
        ("fail".into(), "JobError".into(), "boom 2000".into()),
        "{run:#}"
    );
    let s = steps(&run);
    assert_eq!(s.len(), 2, "{s:?}");
    for step in &s {
        assert!(
            step.get("output_dataclip_id").is_none_or(Value::is_null),
            "{s:?}"
        );
    }
    assert!(s[1].get("input_dataclip_id").is_none_or(Value::is_null));
    assert!(run["final_dataclip_id"].is_null(), "{run:#}");
    let logs = Harness::log_texts(&run);
    assert_eq!(
        logs.iter()
            .filter(|l| l.starts_with("Dataclip exceeds payload limit"))
            .count(),
        2,
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l == "Payload limit: 0mb"), "{logs:?}");

    // Under the limit the same run keeps every dataclip.
    let id = h
        .mock
        .enqueue_run(two_steps(json!({"payload_limit_mb": 1})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    let s = steps(&run);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s[0]["output_dataclip_id"].is_string(), "{s:?}");
    assert_eq!(s[1]["input_dataclip_id"], s[0]["output_dataclip_id"]);
}

#[tokio::test]
async fn log_lines_over_the_log_limit_are_redacted() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = job(
        "export default [s => { console.log('small'); console.log('y'.repeat(1100000)); return { data: {} }; }]",
    );
    plan["options"] = json!({"log_payload_limit_mb": 1});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let logs = Harness::log_texts(&run);
    assert!(logs.iter().any(|l| l == "small"), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l == "(Log message redacted: exceeds 1mb memory limit)"),
        "{logs:?}"
    );
    assert!(!logs.iter().any(|l| l.starts_with("yyyy")), "{logs:?}");
}
