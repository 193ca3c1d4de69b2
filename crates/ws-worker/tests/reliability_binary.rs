//! Reliability through the real binaries and the real engine: what a run sends or receives
//! must never take the worker offline or lose a run while Lightning stays reachable.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::binary::{Procs, post_run, spawn, wait_status_within};
use support::{http_body, http_request, one_job};

const LONG: Duration = Duration::from_secs(120);

/// A plan run by the real engine (no adaptor) that reports the size of its input.
fn sizing_plan(dataclip_id: Option<&str>) -> Value {
    let mut plan = one_job(json!(null));
    plan["jobs"][0]["adaptor"] = json!("");
    plan["jobs"][0]["body"] =
        json!("export default [s => ({ data: { size: (s.data && s.data.blob || '').length } })]");
    plan["dataclip_id"] = json!(dataclip_id);
    plan
}

/// Stores a dataclip of about `mb` MB in the mock.
async fn big_dataclip(p: &Procs, id: &str, mb: usize) -> usize {
    let blob = "x".repeat(mb * 1000 * 1000);
    let body = json!({"id": id, "body": {"data": {"blob": blob}}});
    let (code, text) = http_body(p.mock_addr, "POST", "/dataclips", Some(&body))
        .await
        .expect("post dataclip");
    assert_eq!(code, 201, "{text}");
    blob.len()
}

/// Runs a small job and expects success: the worker is still online.
async fn still_online(p: &Procs) {
    let id = post_run(p, &sizing_plan(None)).await;
    let run = wait_status_within(p, &id, "complete", LONG).await;
    assert_eq!(run["reason"], "success", "{run}");
    let (code, _) = http_request(p.worker_addr, "GET", "/readyz").await;
    assert_eq!(code, 200);
}

/// 20 MB and 30 MB input dataclips (over tungstenite's 16 MiB default frame limit, which used
/// to break the socket forever) run under the default 100 MiB message limit.
#[tokio::test]
async fn large_input_dataclips_run_under_the_default_limit() {
    let mut p = spawn(&[]).await;
    for (id, mb) in [("d20", 20), ("d30", 30)] {
        let size = big_dataclip(&p, id, mb).await;
        let run_id = post_run(&p, &sizing_plan(Some(id))).await;
        let run = wait_status_within(&p, &run_id, "complete", LONG).await;
        assert_eq!(
            run["reason"], "success",
            "{mb} MB: {}",
            run["error_message"]
        );
        assert_eq!(run["final_state"]["data"]["size"], json!(size), "{mb} MB");
    }
    still_online(&p).await;
    assert_eq!(p.metric("openfn_worker_reconnects_total").await, 0.0);
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

/// Over the configured limit (`--max-message-mb 12`): the 20 MB reply is read and refused
/// (the connection stays up), the 30 MB one is past the transport limit (24 MiB) and breaks the
/// connection once; either way only that run fails, with a `DataClipError` naming the limit,
/// the cause is logged, and the next run succeeds.
#[tokio::test]
async fn input_dataclips_over_the_limit_fail_only_their_run() {
    let mut p = spawn(&["--max-message-mb=12"]).await;
    for (id, mb, reconnects) in [("d20", 20, 0.0), ("d30", 30, 1.0)] {
        big_dataclip(&p, id, mb).await;
        let run_id = post_run(&p, &sizing_plan(Some(id))).await;
        let run = wait_status_within(&p, &run_id, "complete", LONG).await;
        assert_eq!(run["reason"], "exception", "{mb} MB: {run}");
        assert_eq!(run["error_type"], "DataClipError", "{mb} MB: {run}");
        let message = run["error_message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("Failed to load dataclip {id}: [fetch:dataclip] "))
                && message.contains("limit"),
            "{message}"
        );
        still_online(&p).await;
        assert_eq!(
            p.metric("openfn_worker_reconnects_total").await,
            reconnects,
            "{mb} MB"
        );
    }
    let log = p.worker_log();
    assert!(
        log.contains("over the worker's message limit of 12582912 bytes"),
        "{log}"
    );
    assert!(
        log.contains("disconnected from lightning: lightning sent a message of"),
        "{log}"
    );
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}
