//! End to end: the worker on the real engine (child processes of the `ws-worker` binary)
//! against an in-process lightning-mock, one scenario per part of the run lifecycle; each test
//! checks what Lightning records.

mod support;

use std::time::Duration;

use openfn_lightning_mock::{Config as MockConfig, Faults};
use serde_json::{Value, json};
use support::{Harness, job, start};

const T: Duration = Duration::from_secs(10);

fn steps(run: &Value) -> Vec<Value> {
    run["steps"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn happy_path() {
    let h = start(MockConfig::default(), &[]).await;
    let id = h
        .mock
        .enqueue_run(job(
            "export default [s => { console.log('hello'); return { data: { x: 1 } }; }]",
        ))
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

/// `j1` (`j1_body`), then `on_fail` (recovers) or `on_ok` (throws `boom`) by edge condition.
fn branching(j1_body: &str) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [
            {"id": "j1", "adaptor": "", "body": j1_body},
            {"id": "on_fail", "adaptor": "", "body": "export default [s => ({ data: { recovered: true, from: s.errors.j1.message } })]"},
            {"id": "on_ok", "adaptor": "", "body": "export default [s => { throw new Error('boom'); }]"}
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
        .enqueue_run(branching(
            "export default [s => { throw new Error('abort!'); }]",
        ))
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
    assert_eq!(
        run["final_state"],
        json!({"data": {"recovered": true, "from": "abort!"}})
    );

    // j1 succeeds → on_ok runs and fails: the leaf's fail is the run's.
    let id = h
        .mock
        .enqueue_run(branching("export default [s => ({ data: {} })]"))
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

/// `j1`, then `big` or `small` by JS edge conditions on its output; `broken`'s condition throws.
fn js_edges(n: u32) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [
            {"id": "j1", "adaptor": "", "body": format!("export default [s => ({{ data: {{ n: {n} }} }})]")},
            {"id": "big", "adaptor": "", "body": "export default [s => ({ data: { went: 'big' } })]"},
            {"id": "small", "adaptor": "", "body": "export default [s => ({ data: { went: 'small' } })]"},
            {"id": "broken", "adaptor": "", "body": "export default [s => s]"}
        ],
        "edges": [
            {"id": "e0", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always", "enabled": true},
            {"id": "e1", "source_job_id": "j1", "target_job_id": "big", "condition": "state.data.n > 10", "enabled": true},
            {"id": "e2", "source_job_id": "j1", "target_job_id": "small", "condition": "state.data.n <= 10", "enabled": true},
            {"id": "e3", "source_job_id": "j1", "target_job_id": "broken", "condition": "state.data.n == 99 && wibble", "enabled": true}
        ],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

#[tokio::test]
async fn js_edge_conditions_pick_the_next_step() {
    let h = start(MockConfig::default(), &[]).await;
    for (n, went) in [(20, "big"), (3, "small")] {
        let id = h.mock.enqueue_run(js_edges(n)).expect("enqueue");
        let run = h.wait_final(&id, T).await;
        assert_eq!(run["reason"], "success", "{run:#}");
        assert_eq!(run["final_state"], json!({"data": {"went": went}}));
        let jobs: Vec<Value> = steps(&run).iter().map(|s| s["job_id"].clone()).collect();
        assert_eq!(jobs, [json!("j1"), json!(went)], "{run:#}");
    }
    // A condition that throws crashes the run.
    let id = h.mock.enqueue_run(js_edges(99)).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "crash", "{run:#}");
    assert_eq!(run["error_type"], "EdgeConditionError", "{run:#}");
    assert_eq!(run["error_message"], "wibble is not defined", "{run:#}");
}

#[tokio::test]
async fn credentials_are_fetched_and_redacted() {
    let h = start(MockConfig::default(), &[]).await;
    h.mock.add_credential(
        "cred",
        json!({"username": "admin", "password": "hunter2-secret"}),
    );
    let mut plan = job(
        "export default [s => { console.log('password is ' + s.configuration.password); return { data: {} }; }]",
    );
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
    let mut plan = job("export default [s => s]");
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
        &[
            ("WORKER_MESSAGE_TIMEOUT_SECONDS", "1"),
            ("WORKER_TIMEOUT_RETRY_COUNT", "1"),
        ],
    )
    .await;
    let mut plan = job("export default [s => s]");
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
    let mut plan = job("export default [s => s]");
    plan["dataclip_id"] = json!("dc");
    let id = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"from": "dataclip"}}));
    assert_eq!(steps(&run)[0]["input_dataclip_id"], "dc");

    let mut plan = job("export default [s => s]");
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
async fn output_dataclips_false_keeps_ids() {
    let mut h = start(MockConfig::default(), &[]).await;
    let mut plan = job("export default [s => ({ data: { x: 1 } })]");
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
        .enqueue_run(job(
            "export default [s => { console.log('one'); return { data: {} }; }]",
        ))
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
    let mut h = start(MockConfig::default(), &["--capacity=2"]).await;
    let ids: Vec<String> = (0..8)
        .map(|i| {
            h.mock
                .enqueue_run(job(&format!(
                    "export default [s => new Promise(r => setTimeout(() => r({{ data: {{ i: {i} }} }}), 30))]"
                )))
                .expect("enqueue")
        })
        .collect();
    for id in &ids {
        let run = h.wait_final(id, T).await;
        assert_eq!(run["reason"], "success", "{run:#}");
    }
    // Runs held by the worker, replayed from the mock's ordered event stream: a claim adds the
    // runs it hands out, an accepted `run:complete` ends one (the worker frees its slot only
    // after that reply, so a later claim always comes after it in the stream).
    let mut held = 0i64;
    let mut peak = 0i64;
    let mut claimed = 0;
    for e in h.drain_events() {
        match e.name.as_str() {
            "claim" => {
                let n = e.data["payload"].as_array().map_or(0, Vec::len);
                claimed += n;
                held += i64::try_from(n).unwrap_or(i64::MAX);
            }
            "run:complete" => held -= 1,
            _ => {}
        }
        peak = peak.max(held);
    }
    assert_eq!(claimed, 8, "every run claimed once");
    assert_eq!(held, 0);
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
        .enqueue_run(job(
            "export default [s => { console.log('a'); return new Promise(r => setTimeout(() => r({ data: { ok: true } }), 50)); }]",
        ))
        .expect("enqueue");
    let run = h.wait_final(&id, Duration::from_secs(20)).await;
    assert_eq!(run["status"], "complete", "{run:#}");
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"ok": true}}));
    assert_eq!(steps(&run).len(), 1, "{run:#}");
    // Exactly one of each lifecycle event and one copy of the log line: nothing the worker
    // sent again after the drop was recorded twice.
    let events: Vec<String> = h
        .drain_events()
        .into_iter()
        .filter(|e| e.data["runId"] == id.as_str())
        .map(|e| match e.name.as_str() {
            "run:log" => format!("log {}", e.data["payload"]["message"]),
            _ => e.name,
        })
        .collect();
    for name in [
        "run:start",
        "step:start",
        "step:complete",
        "run:complete",
        "log [\"a\"]",
    ] {
        let n = events.iter().filter(|e| *e == name).count();
        assert_eq!(n, 1, "{name} recorded {n} times: {events:#?}");
    }
    let mut logs: Vec<&String> = events.iter().filter(|e| e.starts_with("log ")).collect();
    let all = logs.len();
    logs.sort();
    logs.dedup();
    assert_eq!(
        logs.len(),
        all,
        "a log line was recorded twice: {events:#?}"
    );
    assert_eq!(h.worker.shared.metrics.reconnects(), 1);
    // The sender has one event in flight at a time, so at most one was sent again after the
    // drop (the mock acknowledges an exact replay without recording it).
    assert!(run["replays"].as_u64().is_some_and(|n| n <= 1), "{run:#}");
}

/// An `error` reply is final (§3.14: the kit logs it and goes on): nothing is sent again, and
/// the `step:complete` of a refused `step:start` is not sent either, so Lightning's record
/// holds no half step. A refused `step:complete` is not sent again and its `step:start` is
/// never repeated.
#[tokio::test]
async fn a_refused_event_is_final_and_never_sent_again() {
    // `--refused-retry-count 0`: the kit's behaviour, a refusal is final at once.
    let mut h = support::start_env(
        MockConfig::default(),
        &[],
        &[("WORKER_REFUSED_RETRY_COUNT", "0")],
    )
    .await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    h.mock.set_faults(&Faults {
        reject: [("step:start".to_string(), 1)].into_iter().collect(),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { r: 1 } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    assert_eq!(run["final_state"], json!({"data": {"r": 1}}), "{run:#}");
    assert!(steps(&run).is_empty(), "{run:#}");
    // Refused events are not recorded by the mock; a second copy would have been.
    let names = run_event_names(&mut h, &id);
    assert_eq!(names, ["run:start", "run:complete"], "{names:?}");

    h.mock.set_faults(&Faults {
        reject: [("step:complete".to_string(), 1)].into_iter().collect(),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { r: 2 } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let names = run_event_names(&mut h, &id);
    assert_eq!(
        names,
        ["run:start", "step:start", "run:complete"],
        "{names:?}"
    );
    let (_, metrics) = h.http_get("/metrics").await;
    assert!(
        metrics.contains("openfn_worker_event_retries_total 0"),
        "{metrics}"
    );
}

/// The run's events the mock saw, in order, without logs.
fn run_event_names(h: &mut support::Harness, id: &str) -> Vec<String> {
    h.drain_events()
        .into_iter()
        .filter(|e| {
            e.data["runId"] == id && !e.name.starts_with("run:log") && e.name != "run:batch_logs"
        })
        .filter(|e| {
            ["run:start", "step:start", "step:complete", "run:complete"].contains(&e.name.as_str())
        })
        .map(|e| e.name)
        .collect()
}

#[tokio::test]
async fn a_rejected_completion_falls_back_to_no_final_state() {
    let h = start(MockConfig::default(), &[]).await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    h.mock.set_faults(&Faults {
        // the first send and its 3 retries (the default budget) refused: then without final_state
        reject: [("run:complete".to_string(), 4)].into_iter().collect(),
        ..Faults::default()
    });
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { f: 1 } })]"))
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
        .enqueue_run(job("export default [s => ({ data: { proxied: true } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    // every connection went through the proxy: one, plus one per reconnect
    assert_eq!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst) as u64,
        1 + h.worker.shared.metrics.reconnects()
    );
}

#[tokio::test]
async fn webhook_response_is_copied_into_step_complete() {
    let mut h = start(MockConfig::default(), &[]).await;
    let body = "export default [s => ({ data: {}, webhookResponse: { status: 201, body: { ok: true }, other: 1 } })]";
    let id = h.mock.enqueue_run(job(body)).expect("enqueue");
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
