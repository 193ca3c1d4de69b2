//! End to end: the worker (mock engine) against an in-process lightning-mock, one scenario per
//! part of the run lifecycle.

mod support;

use std::time::Duration;

use openfn_lightning_mock::{Config as MockConfig, Faults};
use serde_json::{Value, json};
use support::{Harness, one_job, start};

const T: Duration = Duration::from_secs(10);

fn steps(run: &Value) -> Vec<Value> {
    run["steps"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn happy_path() {
    let h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(one_job(json!({"data": {"x": 1}, "__log": "hello"})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"x": 1}}));
    assert!(run["final_dataclip_id"].is_string());
    let steps = steps(&run);
    assert_eq!(steps.len(), 1, "{steps:?}");
    let logs = Harness::log_texts(&run);
    assert!(logs.iter().any(|l| l == "hello"), "{logs:?}");
    assert!(
        logs.iter()
            .any(|l| l == "Run complete with status: success"),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l.starts_with("Versions:")), "{logs:?}");
    assert!(logs.iter().any(|l| l == "Payload limit: 10mb"), "{logs:?}");
    let (code, body) = h.http_get("/").await;
    assert_eq!((code, body.as_str()), (200, "OK"));
    let (code, _) = h.http_get("/livez").await;
    assert_eq!(code, 200);
    let (code, body) = h.http_get("/readyz").await;
    assert_eq!((code, body.as_str()), (200, "ready"));
    // The worker books the run just after Lightning acknowledged its completion.
    let deadline = tokio::time::Instant::now() + T;
    let metrics = loop {
        let (_, metrics) = h.http_get("/metrics").await;
        if metrics.contains("openfn_worker_runs_total{reason=\"success\"} 1") {
            break metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        metrics.contains("openfn_worker_slots{workloop=\"manual>*\",state=\"busy\"} 0"),
        "{metrics}"
    );
}

fn branching(j1_body: Value) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [
            {"id": "j1", "adaptor": "@openfn/language-common@1.0.0", "body": j1_body.to_string()},
            {"id": "on_fail", "adaptor": "@openfn/language-common@1.0.0", "body": "{\"data\":{\"recovered\":true}}"},
            {"id": "on_ok", "adaptor": "@openfn/language-common@1.0.0", "body": "{\"data\":{\"fine\":true},\"__fail\":\"boom\"}"}
        ],
        "edges": [
            {"id": "e0", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always", "enabled": true},
            {"id": "e1", "source_job_id": "j1", "target_job_id": "on_fail", "condition": "on_job_failure", "enabled": true},
            {"id": "e2", "source_job_id": "j1", "target_job_id": "on_ok", "condition": "on_job_success", "enabled": true}
        ],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

#[tokio::test]
async fn multi_step_with_failure_edges() {
    let h = start(MockConfig::default(), &[]).await;
    // j1 fails → on_fail runs and succeeds: a fail on a non-leaf is ignored.
    let id = h
        .mock
        .enqueue_run(branching(json!({"data": {}, "__fail": "abort!"})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let s = steps(&run);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0]["job_id"], "j1");
    assert_eq!(s[0]["reason"], "fail");
    assert_eq!(s[0]["error_type"], "JobError");
    assert_eq!(s[0]["error_message"], "abort!");
    assert_eq!(s[1]["job_id"], "on_fail");
    assert_eq!(s[1]["input_dataclip_id"], s[0]["output_dataclip_id"]);
    assert_eq!(run["final_state"], json!({"data": {"recovered": true}}));

    // j1 succeeds → on_ok runs and fails: the leaf's fail is the run's.
    let id = h
        .mock
        .enqueue_run(branching(json!({"data": {}})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "fail", "{run:#}");
    assert_eq!(run["error_type"], "JobError");
    assert_eq!(run["error_message"], "boom");
    let logs = Harness::log_texts(&run);
    assert!(
        logs.iter().any(|l| l == "Run complete with status: fail"),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l == "JobError: boom"), "{logs:?}");
}

#[tokio::test]
async fn credentials_are_fetched_and_redacted() {
    let h = start(MockConfig::default(), &[]).await;
    h.mock.add_credential(
        "cred",
        json!({"username": "admin", "password": "hunter2-secret"}),
    );
    let mut plan = one_job(json!({"data": {}, "__log": "password is hunter2-secret"}));
    plan["jobs"][0]["credential_id"] = json!("cred");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let logs = Harness::log_texts(&run);
    assert!(
        logs.iter().any(|l| l == "password is [REDACTED]"),
        "{logs:?}"
    );
    assert!(
        !serde_json::to_string(&run["logs"])
            .unwrap_or_default()
            .contains("hunter2")
    );
}

#[tokio::test]
async fn credential_errors_are_exceptions() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = one_job(json!({"data": {}}));
    plan["jobs"][0]["credential_id"] = json!("zzz");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "exception", "{run:#}");
    assert_eq!(run["error_type"], "CredentialLoadError");
    assert_eq!(
        run["error_message"],
        r#"Failed to load credential zzz: [fetch:credential] {"errors":{"id":["Credential not found!"]}}"#
    );
    assert!(run["final_state"].is_null());
}

#[tokio::test]
async fn credential_timeout() {
    let h2 = support::start_env(
        MockConfig::default(),
        &[],
        &[("WORKER_MESSAGE_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let mut plan = one_job(json!({"data": {}}));
    plan["jobs"][0]["credential_id"] = json!("%TIMEOUT%");
    let id = h2.mock.enqueue_run(plan).expect("enqueue");
    let run = h2.wait_final(&id, T).await;
    assert_eq!(run["error_type"], "CredentialLoadError", "{run:#}");
    assert_eq!(
        run["error_message"],
        "Failed to load credential %TIMEOUT%: [fetch:credential] timeout"
    );
}

#[tokio::test]
async fn dataclips_in_and_missing() {
    let h = start(MockConfig::default(), &[]).await;
    h.mock
        .add_dataclip("dc", json!({"data": {"from": "dataclip"}}));
    let mut plan = one_job(json!("not json: passes the input through"));
    plan["jobs"][0]["body"] = json!("pass");
    plan["dataclip_id"] = json!("dc");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"from": "dataclip"}}));
    assert_eq!(steps(&run)[0]["input_dataclip_id"], "dc");

    let mut plan = one_job(json!({}));
    plan["dataclip_id"] = json!("nope");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "exception", "{run:#}");
    assert_eq!(run["error_type"], "DataClipError");
    assert!(
        run["error_message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Failed to load dataclip nope: [fetch:dataclip] ")),
        "{run:#}"
    );
    assert!(steps(&run).is_empty());
    let logs = Harness::log_texts(&run);
    assert!(
        logs.iter()
            .any(|l| l == "Run complete with status: exception"),
        "{logs:?}"
    );
}

#[tokio::test]
async fn run_level_errors_complete_with_the_kill_form() {
    let h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(one_job(
            json!({"__crash": "ReferenceError: x is not defined"}),
        ))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "crash", "{run:#}");
    assert_eq!(run["error_type"], "RuntimeCrash");
    assert!(run["final_state"].is_null());
    let s = steps(&run);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "crash");

    let mut plan = one_job(json!({"__sleep": 2000}));
    plan["options"] = json!({"run_timeout_ms": 100});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "kill", "{run:#}");
    assert_eq!(run["error_type"], "TimeoutError");
}

#[tokio::test]
async fn payload_limit_withholds_dataclips() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = branching(json!({"data": {"big": "x"}}));
    plan["options"] = json!({"payload_limit_mb": 0});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["status"], "complete", "{run:#}");
    let s = steps(&run);
    assert!(!s.is_empty());
    assert!(
        s[0].get("output_dataclip_id").is_none_or(Value::is_null),
        "{s:?}"
    );
    if s.len() > 1 {
        assert!(
            s[1].get("input_dataclip_id").is_none_or(Value::is_null),
            "{s:?}"
        );
    }
    assert!(run["final_dataclip_id"].is_null());
    let logs = Harness::log_texts(&run);
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Dataclip exceeds payload limit")),
        "{logs:?}"
    );
    assert!(logs.iter().any(|l| l == "Payload limit: 0mb"), "{logs:?}");
}

#[tokio::test]
async fn output_dataclips_false_keeps_ids() {
    let mut h = start(MockConfig::default(), &[]).await;
    let mut plan = one_job(json!({"data": {"x": 1}}));
    plan["options"] = json!({"output_dataclips": false});
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["status"], "complete", "{run:#}");
    let mut saw = false;
    for e in h.drain_events() {
        if e.name == "step:complete" {
            let p = &e.data["payload"];
            assert!(p.get("output_dataclip").is_none(), "{p}");
            assert!(p["output_dataclip_id"].is_string(), "{p}");
            saw = true;
        }
    }
    assert!(saw, "no step:complete seen");
}

#[tokio::test]
async fn batch_logs() {
    let mut h = start(MockConfig::default(), &["--batch-logs", "--batch-limit=3"]).await;
    let id = h
        .mock
        .enqueue_run(one_job(json!({"data": {}, "__log": "one"})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success");
    let events = h.drain_events();
    let batches: Vec<_> = events
        .iter()
        .filter(|e| e.name == "run:batch_logs")
        .collect();
    assert!(!batches.is_empty());
    assert!(events.iter().all(|e| e.name != "run:log"));
    for b in &batches {
        let n = b.data["payload"]["logs"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        assert!((1..=3).contains(&n), "{:?}", b.data);
    }
}

#[tokio::test]
async fn many_runs_at_capacity_never_overclaim() {
    let h = start(MockConfig::default(), &["--capacity=2"]).await;
    let ids: Vec<String> = (0..8)
        .map(|i| {
            h.mock
                .enqueue_run(one_job(json!({"data": {"i": i}, "__sleep": 30})))
                .expect("enqueue")
        })
        .collect();
    let mut peak = 0usize;
    for id in &ids {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let runs = h.mock.runs();
            let busy = runs
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|r| {
                            matches!(r["status"].as_str(), Some("claimed") | Some("started"))
                        })
                        .count()
                })
                .unwrap_or(0);
            peak = peak.max(busy);
            if h.mock.run(id).is_some_and(|r| r["status"] == "complete") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    assert!(peak <= 2, "peak {peak}");
}

#[tokio::test]
async fn socket_dropped_mid_run_completes_exactly_once() {
    let mut h = start(MockConfig::default(), &[]).await;
    // Wait for the worker to be joined, then drop the socket a few messages into the run.
    h.wait_until("ready", T, || h.worker.ready()).await;
    h.mock.set_faults(&Faults {
        drop_after: Some(4),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(one_job(
            json!({"data": {"ok": true}, "__log": "a", "__sleep": 50}),
        ))
        .expect("enqueue");
    let run = h.wait_final(&id, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "complete", "{run:#}");
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"ok": true}}));
    assert_eq!(steps(&run).len(), 1, "{run:#}");
    let completes = h
        .drain_events()
        .iter()
        .filter(|e| e.name == "run:complete" && e.data["runId"] == id.as_str())
        .count();
    assert!(completes >= 1);
    assert!(h.worker.shared.metrics.reconnects() >= 1);
}

#[tokio::test]
async fn rejected_events_are_retried() {
    let h = start(MockConfig::default(), &[]).await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    h.mock.set_faults(&Faults {
        reject: [
            ("step:start".to_string(), 1),
            ("step:complete".to_string(), 1),
        ]
        .into_iter()
        .collect(),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(one_job(json!({"data": {"r": 1}})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let s = steps(&run);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["reason"], "success", "{s:?}");
    let (_, metrics) = h.http_get("/metrics").await;
    assert!(
        metrics.contains("openfn_worker_event_retries_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_rejected_completion_falls_back_to_no_final_state() {
    let h = start(MockConfig::default(), &[]).await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    h.mock.set_faults(&Faults {
        reject: [("run:complete".to_string(), 1)].into_iter().collect(),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(one_job(json!({"data": {"f": 1}})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    // Sent without final_state; the mock resolves the result from final_dataclip_id.
    assert_eq!(run["final_state"], json!({"data": {"f": 1}}), "{run:#}");
}

/// A minimal HTTP CONNECT proxy; counts tunnels.
async fn connect_proxy(
    listener: tokio::net::TcpListener,
    tunnels: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    while let Ok((mut client, _)) = listener.accept().await {
        let tunnels = tunnels.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if client.read(&mut b).await.ok() != Some(1) {
                    return;
                }
                head.push(b[0]);
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let Some(target) = text
                .strip_prefix("CONNECT ")
                .and_then(|r| r.split_whitespace().next())
            else {
                return;
            };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            tunnels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}

#[tokio::test]
async fn connects_through_an_http_proxy() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = format!("http://{}", listener.local_addr().expect("addr"));
    let tunnels = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(connect_proxy(listener, tunnels.clone()));
    let h = support::start_env(
        MockConfig::default(),
        &[],
        &[("HTTP_PROXY", proxy.as_str())],
    )
    .await;
    let id = h
        .mock
        .enqueue_run(one_job(json!({"data": {"proxied": true}})))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert!(tunnels.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn webhook_response_is_copied_into_step_complete() {
    let mut h = start(MockConfig::default(), &[]).await;
    let body =
        json!({"data": {}, "webhookResponse": {"status": 201, "body": {"ok": true}, "other": 1}});
    let id = h.mock.enqueue_run(one_job(body)).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success");
    let step = h
        .drain_events()
        .into_iter()
        .find(|e| e.name == "step:complete")
        .map(|e| e.data["payload"].clone())
        .expect("step:complete");
    assert_eq!(
        step["webhook_response"],
        json!({"status": 201, "body": {"ok": true}})
    );
}
