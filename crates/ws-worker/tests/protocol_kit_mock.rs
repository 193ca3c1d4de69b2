//! Protocol test against a small in-test Phoenix server that speaks like the kit's
//! TypeScript lightning-mock (§1.3): replies as `chan_reply_<ref>` with no `response` key or a
//! bare `"ok"`, a JSON-string push payload with `ref: ""`, a `fetch:dataclip` answered as a JSON
//! array of byte values, and heartbeats never answered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openfn_ws_worker::{MockExecutor, Worker};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

mod support;

#[derive(Default)]
struct Seen {
    query: String,
    frames: Vec<Value>,
}

/// What the fake kit mock saw, and a signal for each frame it records.
#[derive(Default)]
struct Shared {
    seen: Mutex<Seen>,
    frame: tokio::sync::Notify,
}

#[allow(
    clippy::result_large_err,
    reason = "the handshake callback's error type is tungstenite's"
)]
async fn kit_mock(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let Ok((tcp, _)) = listener.accept().await else {
        return;
    };
    let shared2 = shared.clone();
    let ws = tokio_tungstenite::accept_hdr_async(tcp, move |req: &Request, resp: Response| {
        if let Ok(mut s) = shared2.seen.lock() {
            s.query = req.uri().query().unwrap_or_default().to_string();
        }
        Ok(resp)
    })
    .await;
    let Ok(ws) = ws else { return };
    let (mut tx, mut rx) = ws.split();
    let mut claims = 0;
    let dataclip: Vec<Value> = br#"{"data":{"n":7}}"#.iter().map(|b| json!(b)).collect();
    while let Some(Ok(msg)) = rx.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if let Ok(mut s) = shared.seen.lock() {
            s.frames.push(frame.clone());
        }
        shared.frame.notify_waiters();
        let (join_ref, r, topic, event) = (
            frame[0].clone(),
            frame[1].as_str().unwrap_or("").to_string(),
            frame[2].as_str().unwrap_or("").to_string(),
            frame[3].as_str().unwrap_or(""),
        );
        let reply_event = format!("chan_reply_{r}");
        let reply = |payload: Value| json!([join_ref, r, topic, reply_event, payload]).to_string();
        let out = match (topic.as_str(), event) {
            ("phoenix", "heartbeat") => continue,
            (_, "phx_join") => vec![reply(json!({"status": "ok", "response": "ok"}))],
            ("worker:queue", "claim") => {
                claims += 1;
                let runs = if claims == 1 {
                    json!([{"id": "r1", "token": "x.y.z"}])
                } else {
                    json!([])
                };
                vec![reply(json!({"status": "ok", "response": {"runs": runs}}))]
            }
            ("run:r1", "fetch:plan") => vec![reply(json!({"status": "ok", "response": {
                "id": "r1",
                "triggers": [{"id": "t"}],
                "jobs": [{"id": "j1", "adaptor": "@openfn/language-common@1.0.0", "body": "pass through", "credential_id": null}],
                "edges": [{"id": "e", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always", "enabled": true}],
                "starting_node_id": "t",
                "dataclip_id": "d1",
                "options": {}
            }}))],
            ("run:r1", "fetch:dataclip") => {
                vec![reply(json!({"status": "ok", "response": dataclip}))]
            }
            (_, "phx_leave") => vec![reply(
                json!({"status": "error", "response": "There are no listeners on channel run:r1"}),
            )],
            _ => vec![reply(json!({"status": "ok"}))],
        };
        for o in out {
            if tx.send(Message::text(o)).await.is_err() {
                return;
            }
        }
        if topic == "worker:queue" && event == "phx_join" {
            // The kit mock's push: null join_ref, empty ref, a JSON string payload.
            let push = json!([null, "", "worker:queue", "work-available", "{}"]).to_string();
            if tx.send(Message::text(push)).await.is_err() {
                return;
            }
        }
    }
}

/// Replaces uuids, µs timestamps, durations, versions and memory figures with placeholders.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "step_id" | "output_dataclip_id" | "final_dataclip_id" => json!("<uuid>"),
                        "timestamp" => json!("<µs>"),
                        "duration" => json!("<ms>"),
                        "versions" | "mem" | "token" => json!("<…>"),
                        _ => normalise(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalise).collect()),
        Value::String(s) if s.starts_with("Versions:") => json!("Versions: <…>"),
        other => other.clone(),
    }
}

#[tokio::test]
async fn speaks_to_the_kit_mock_quirks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shared = Arc::new(Shared::default());
    tokio::spawn(kit_mock(listener, shared.clone()));
    let config = support::worker_config(&format!("ws://{addr}/worker"), &["--batch-logs"], &[]);
    // The wire protocol against the kit mock's quirks is the worker's own: the mock engine
    // gives it a run without starting engine children (the real engine's runs are proven
    // against lightning-mock in e2e_runs and e2e_limits).
    let worker = Worker::start(config, Arc::new(MockExecutor)).expect("worker");
    let complete = complete_and_left(&shared).await;
    assert_eq!(complete[4]["reason"], "success", "{complete}");
    assert_eq!(complete[4]["final_state"], json!({"data": {"n": 7}}));
    let s = shared
        .seen
        .lock()
        .map(|s| (s.query.clone(), s.frames.clone()))
        .expect("lock");
    let (query, frames) = s;
    assert_connect_query(&query);
    assert_run_conversation(&frames);
    assert_queue_conversation(&frames);
    worker.shutdown(0);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), worker.wait())
            .await
            .ok(),
        Some(0)
    );
}

/// Waits (10 s at most) until the mock saw `run:complete` and the run channel's leave; the
/// `run:complete` frame.
async fn complete_and_left(shared: &Shared) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // registered before looking, so a frame recorded in between still wakes us
        let next_frame = shared.frame.notified();
        let found = shared.seen.lock().ok().and_then(|s| {
            let left = s
                .frames
                .iter()
                .any(|f| f[2] == "run:r1" && f[3] == "phx_leave");
            s.frames
                .iter()
                .find(|f| f[3] == "run:complete")
                .filter(|_| left)
                .cloned()
        });
        if let Some(f) = found {
            break f;
        }
        assert!(
            tokio::time::timeout_at(deadline, next_frame).await.is_ok(),
            "no run:complete and leave"
        );
    }
}

/// The worker's connect query: token, API and worker versions, Phoenix's `vsn`.
fn assert_connect_query(query: &str) {
    assert!(query.starts_with("token="), "{query}");
    assert!(
        query.contains("&api_version=1.2&worker_version="),
        "{query}"
    );
    assert!(query.ends_with("&vsn=2.0.0"), "{query}");
}

/// The run channel's events in order, the step's input dataclip, the batched logs, and the
/// whole conversation of the run (ids and times normalised) pinned as a snapshot.
fn assert_run_conversation(frames: &[Value]) {
    let run_events: Vec<&str> = frames
        .iter()
        .filter(|f| f[2] == "run:r1")
        .filter_map(|f| f[3].as_str())
        .filter(|e| *e != "run:batch_logs")
        .collect();
    assert_eq!(
        run_events,
        [
            "phx_join",
            "fetch:plan",
            "fetch:dataclip",
            "run:start",
            "step:start",
            "step:complete",
            "run:complete",
            "phx_leave"
        ]
    );
    let batch = frames
        .iter()
        .find(|f| f[3] == "run:batch_logs")
        .expect("batched logs");
    assert_eq!(batch[4]["run_id"], "r1");
    assert!(batch[4]["logs"].as_array().is_some_and(|l| !l.is_empty()));
    // The whole conversation of the run, ids and times normalised, pinned as a snapshot.
    let run_frames: Vec<Value> = frames
        .iter()
        .filter(|f| f[2] == "run:r1")
        .map(|f| json!([f[3], normalise(&f[4])]))
        .collect();
    insta::assert_snapshot!(
        "kit_mock_run_frames",
        serde_json::to_string_pretty(&run_frames).unwrap_or_default()
    );
}

/// `worker:queue`: the join with capacity and queues, the claim's payload, and the extra claim
/// a `work-available` push causes.
fn assert_queue_conversation(frames: &[Value]) {
    let join = frames
        .iter()
        .find(|f| f[2] == "worker:queue" && f[3] == "phx_join")
        .expect("queue join");
    assert_eq!(join[0], join[1], "join_ref == ref");
    assert_eq!(join[4], json!({"capacity": 5, "queues": {"manual>*": 5}}));
    let claim = frames.iter().find(|f| f[3] == "claim").expect("claim");
    assert_eq!(
        claim[4],
        json!({"demand": 1, "worker_name": null, "queues": ["manual", "*"]})
    );
    let step_start = frames
        .iter()
        .find(|f| f[3] == "step:start")
        .expect("step:start");
    assert_eq!(step_start[4]["input_dataclip_id"], "d1");
    // The work-available push triggered an extra claim (the first one got the run). The
    // workloop keeps claiming with backoff meanwhile, so the total is a lower bound.
    assert!(frames.iter().filter(|f| f[3] == "claim").count() >= 2);
}
