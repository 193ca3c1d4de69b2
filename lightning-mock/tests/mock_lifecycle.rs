//! A whole run driven over a raw WebSocket: claim, join, every run-channel event, the binary
//! dataclip reply, heartbeats, leave, and what `GET /runs/:id` and the event bus record.

mod common;

use std::time::Duration;

use common::{Client, Incoming, get, plan, post, split_binary_reply, start, ts};
use openfn_lightning_mock::{Event, ServerHandle};
use serde_json::{Value, json};
use tokio::sync::broadcast;

#[tokio::test]
async fn full_run_lifecycle_with_every_event() {
    let mock = start().await;
    let mut events = mock.subscribe();
    let (status, body) = post(&mock, "/run", plan("r1")).await;
    assert_eq!((status, body), (200, json!({"id": "r1"})));

    let mut c = Client::connect(&mock, "token=anything&api_version=1.2&vsn=2.0.0").await;
    let q = c.join_queue().await;
    let runs = c.claim(&q, 1, &["manual", "*"]).await;
    assert_eq!(runs, vec![json!({"id": "r1", "token": "x.y.z"})]);
    assert_eq!(get(&mock, "/runs/r1").await.1["status"], "claimed");

    let (join_ref, reply) = c.join("run:r1", json!({"token": "x.y.z"})).await;
    assert_eq!(reply, json!({"status": "ok", "response": {}}));
    let j = Some(join_ref.as_str());
    let topic = "run:r1";

    fetches(&mut c, j, topic).await;
    run_and_step_events(&mut c, &mock, j, topic).await;
    heartbeat_and_leave(&mut c, j, topic).await;
    assert_run_recorded(&mock).await;
    assert_bus_saw_every_event(&mut events);
    mock.shutdown().await;
}

#[tokio::test]
async fn run_channel_validation_errors() {
    let mock = start().await;
    post(&mock, "/run", plan("v1")).await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    c.claim(&q, 1, &["*"]).await;
    let (j, _) = c.join("run:v1", json!({"token": "x.y.z"})).await;
    let j = Some(j.as_str());
    let t = "run:v1";
    c.call(j, t, "run:start", json!({"timestamp": ts()})).await;
    c.call(j, t, "step:start", json!({"step_id": "s1", "job_id": "j1"}))
        .await;

    let cases = invalid_step_events()
        .into_iter()
        .chain(invalid_log_and_run_events());
    for (event, payload, expected) in cases {
        let reply = c.call(j, t, event, payload.clone()).await;
        assert_eq!(
            reply,
            json!({"status": "error", "response": expected}),
            "{event} {payload}"
        );
    }
    // Nothing invalid was recorded.
    let run = get(&mock, "/runs/v1").await.1;
    assert_eq!(run["steps"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["logs"], json!([]));
    assert_eq!(run["status"], "started");

    // After completion, further step events are refused; a second completion too.
    let done = c
        .call(
            j,
            t,
            "run:complete",
            json!({"reason": "crash", "error_type": "X", "error_message": "y"}),
        )
        .await;
    assert_eq!(done["status"], "ok");
    let again = c
        .call(j, t, "run:complete", json!({"reason": "success"}))
        .await;
    assert_eq!(
        again,
        json!({"status": "error", "response": {"errors": {"state": ["the run is already complete"]}}})
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn joins_and_unknown_topics() {
    let mock = start().await;
    let mut c = Client::connect(&mock, "token=t").await;
    mock.enqueue_run(json!({"id": "never"})).expect("enqueue");
    assert_eq!(
        mock.wait_for_final("never", Duration::from_millis(100))
            .await,
        None
    );
    assert_eq!(
        mock.wait_for_final("unknown", Duration::from_millis(100))
            .await,
        None
    );
    let (_, reply) = c.join("room:lobby", json!({})).await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );
    let reply = c
        .call(Some("9"), "worker:queue", "claim", json!({"demand": 1}))
        .await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "unmatched topic"}}),
        "claim before join"
    );
    let (_, reply) = c.join("run:nope", json!({"token": "x.y.z"})).await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "not_found"}})
    );
    let (_, reply) = c.join("run:nope", json!({})).await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"reason": "unauthorized"}})
    );
    let q = c.join_queue().await;
    let reply = c
        .call(Some(&q), "worker:queue", "claim", json!({"queues": ["*"]}))
        .await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"errors": {"demand": ["This field can't be blank."]}}})
    );
    let reply = c
        .call(Some(&q), "worker:queue", "claim", json!({"demand": 0}))
        .await;
    assert_eq!(reply["status"], "error");
    let reply = c
        .call(
            Some(&q),
            "worker:queue",
            "claim",
            json!({"demand": 1, "queues": "manual"}),
        )
        .await;
    assert_eq!(reply["status"], "error");
    // Still serving after all that.
    let reply = c
        .call(
            Some(&q),
            "worker:queue",
            "claim",
            json!({"demand": 1, "worker_name": "w", "queues": ["*"]}),
        )
        .await;
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"runs": [{"id": "never", "token": "x.y.z"}]}})
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn exact_replays_are_acknowledged_and_recorded_once() {
    let mock = start().await;
    post(&mock, "/run", plan("rp")).await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    c.claim(&q, 1, &["*"]).await;
    let (j, _) = c.join("run:rp", json!({"token": "x.y.z"})).await;
    let j = Some(j.as_str());
    let t = "run:rp";
    let start = json!({"timestamp": ts()});
    let step = json!({"step_id": "s1", "job_id": "j1", "timestamp": ts()});
    let logs = json!({"logs": [{"message": ["once"], "source": "JOB", "level": "info", "timestamp": ts(), "step_id": "s1"}]});
    let done = json!({"step_id": "s1", "job_id": "j1", "reason": "success", "output_dataclip_id": "o", "output_dataclip": "{}", "timestamp": ts()});
    let complete = json!({"reason": "success", "final_state": {}, "timestamp": ts()});
    for (event, payload) in [
        ("run:start", &start),
        ("step:start", &step),
        ("run:batch_logs", &logs),
        ("step:complete", &done),
        ("run:complete", &complete),
    ] {
        let first = c.call(j, t, event, payload.clone()).await;
        // The socket dropped before the ack: the worker sends the very same event again.
        let again = c.call(j, t, event, payload.clone()).await;
        assert_eq!(first["status"], "ok", "{event}");
        assert_eq!(first, again, "{event} replay answered the same");
    }
    let run = get(&mock, "/runs/rp").await.1;
    assert_eq!(run["status"], "complete");
    assert_eq!(run["steps"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["logs"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["replays"], 5);
    // A different second completion is still refused.
    let other = c.call(j, t, "step:complete", json!({"step_id": "s1", "reason": "fail", "output_dataclip_id": "o2", "output_dataclip": "{}"})).await;
    assert_eq!(other["status"], "error");
    mock.shutdown().await;
}

#[tokio::test]
async fn a_run_survives_a_dropped_socket_and_completes_once() {
    let mock = start().await;
    post(&mock, "/run", plan("drop")).await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    let token = c.claim(&q, 1, &["*"]).await[0]["token"].clone();
    let (j, _) = c.join("run:drop", json!({"token": token})).await;
    let t = "run:drop";
    c.call(Some(&j), t, "run:start", json!({"timestamp": ts()}))
        .await;
    // The socket goes down right after the next message is handled: its reply is lost.
    mock.set_faults(&openfn_lightning_mock::Faults {
        drop_after: Some(1),
        ..Default::default()
    });
    let step = json!({"step_id": "s1", "job_id": "j1", "timestamp": ts()});
    let r = c.fresh_ref();
    c.send_frame(json!([j, r, t, "step:start", step])).await;
    loop {
        match c.recv().await {
            None | Some(Incoming::Close(_)) => break,
            Some(_) => {}
        }
    }
    // Reconnect, rejoin both channels, re-send the unacknowledged event, carry on.
    let mut c = Client::connect(&mock, "token=t").await;
    c.join_queue().await;
    let (j, reply) = c.join(t, json!({"token": token})).await;
    assert_eq!(reply["status"], "ok");
    let j = Some(j.as_str());
    assert_eq!(c.call(j, t, "step:start", step).await["status"], "ok");
    c.call(j, t, "step:complete", json!({"step_id": "s1", "reason": "success", "output_dataclip_id": "o", "output_dataclip": "{}"})).await;
    let done = c
        .call(
            j,
            t,
            "run:complete",
            json!({"reason": "success", "final_state": {}}),
        )
        .await;
    assert_eq!(done["status"], "ok");
    let run = mock
        .wait_for_final("drop", common::WAIT)
        .await
        .expect("final");
    assert_eq!(run["status"], "complete");
    assert_eq!(run["steps"].as_array().map(Vec::len), Some(1));
    mock.shutdown().await;
}

/// A JSON log line as the worker sends it, of `step` when given.
fn log_line(msg: &str, step: Option<&str>) -> Value {
    let mut line = json!({"message": [msg], "source": "R/T", "level": "info", "timestamp": ts()});
    if let Some(step) = step {
        line["step_id"] = json!(step);
    }
    line
}

/// `fetch:plan`, `fetch:dataclip` (a binary reply), `fetch:credential` found, not found and
/// `%TIMEOUT%` (never answered).
async fn fetches(c: &mut Client, j: Option<&str>, topic: &str) {
    let reply = c.call(j, topic, "fetch:plan", json!({})).await;
    assert_eq!(reply, json!({"status": "ok", "response": plan("r1")}));

    // fetch:dataclip is a binary reply frame carrying the JSON text.
    let r = c.fresh_ref();
    c.send_frame(json!([j, r, topic, "fetch:dataclip", {"id": "d"}]))
        .await;
    let Incoming::Binary(bytes) = c.reply_to(&r).await else {
        panic!("expected a binary reply");
    };
    let (join_ref, reply_ref, reply_topic, status, body) = split_binary_reply(&bytes);
    assert_eq!(
        (join_ref.as_str(), reply_ref.as_str()),
        (join_ref.as_str(), r.as_str())
    );
    assert_eq!((reply_topic.as_str(), status.as_str()), (topic, "ok"));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).expect("json"),
        json!({"data": {}})
    );

    let reply = c
        .call(j, topic, "fetch:credential", json!({"id": "c"}))
        .await;
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"user": "user "}})
    );
    let reply = c
        .call(j, topic, "fetch:credential", json!({"id": "zzz"}))
        .await;
    assert_eq!(
        reply,
        json!({"status": "error", "response": {"errors": {"id": ["Credential not found!"]}}})
    );
    // %TIMEOUT% is never answered.
    let r = c.fresh_ref();
    c.send_frame(json!([j, r, topic, "fetch:credential", {"id": "%TIMEOUT%"}]))
        .await;
    // Frames are handled in order: the next reply answers the request sent after it.
    let barrier = c.fresh_ref();
    c.send_frame(json!([j, barrier, topic, "fetch:credential", {"id": "zzz"}]))
        .await;
    let Some(Incoming::Text(next)) = c.recv().await else {
        panic!("a reply");
    };
    assert_eq!(next[1], json!(barrier), "no reply for %TIMEOUT%: {next}");
}

/// Logs, `run:start` (once only), two steps (one failed) and `run:complete`.
async fn run_and_step_events(c: &mut Client, mock: &ServerHandle, j: Option<&str>, topic: &str) {
    let reply = c
        .call(
            j,
            topic,
            "run:batch_logs",
            json!({"run_id": "r1", "logs": [log_line("Memory limit: 500mb", None)]}),
        )
        .await;
    assert_eq!(reply, json!({"status": "ok", "response": {}}));

    let reply = c
        .call(
            j,
            topic,
            "run:start",
            json!({"versions": {"worker": "1"}, "timestamp": ts()}),
        )
        .await;
    assert_eq!(reply, json!({"status": "ok", "response": null}));
    assert_eq!(get(mock, "/runs/r1").await.1["status"], "started");
    let again = c
        .call(j, topic, "run:start", json!({"timestamp": ts()}))
        .await;
    assert_eq!(again["status"], "error", "a run starts once");

    let reply = c
        .call(
            j,
            topic,
            "step:start",
            json!({"step_id": "s1", "job_id": "j1", "timestamp": ts(), "input_dataclip_id": "d"}),
        )
        .await;
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"step_id": "s1"}})
    );
    let mut line = log_line("hello", Some("s1"));
    line["run_id"] = json!("r1");
    let reply = c.call(j, topic, "run:log", line).await;
    assert_eq!(reply["status"], "ok");
    assert!(reply["response"]["log_line_id"].is_string());
    let reply = c
        .call(j, topic, "step:complete", json!({
            "step_id": "s1", "job_id": "j1", "mem": {"job": 1, "system": 2}, "duration": 5, "thread_id": 1,
            "timestamp": ts(), "output_dataclip_id": "o1", "output_dataclip": "{\"data\":{\"x\":1}}",
            "reason": "success", "error_type": null, "error_message": null
        }))
        .await;
    assert_eq!(
        reply,
        json!({"status": "ok", "response": {"step_id": "s1"}})
    );
    c.call(
        j,
        topic,
        "step:start",
        json!({"step_id": "s2", "job_id": "j2", "timestamp": ts(), "input_dataclip_id": "o1"}),
    )
    .await;
    let reply = c
        .call(
            j,
            topic,
            "step:complete",
            json!({
                "step_id": "s2", "job_id": "j2", "duration": 1, "thread_id": 1, "timestamp": ts(),
                "output_dataclip_id": "o2", "output_dataclip": "{\"data\":{\"y\":2}}",
                "reason": "fail", "error_type": "JobError", "error_message": "boom"
            }),
        )
        .await;
    assert_eq!(reply["status"], "ok");

    let reply = c
        .call(
            j,
            topic,
            "run:complete",
            json!({
                "timestamp": ts(), "final_state": {"data": {"y": 2}}, "reason": "fail",
                "error_type": "JobError", "error_message": "boom", "final_dataclip_id": "o2"
            }),
        )
        .await;
    assert_eq!(reply, json!({"status": "ok", "response": null}));
}

/// Heartbeats are answered; after `phx_leave` the topic is unmatched.
async fn heartbeat_and_leave(c: &mut Client, j: Option<&str>, topic: &str) {
    // with a null join_ref
    let r = c.fresh_ref();
    c.send_frame(json!([null, r, "phoenix", "heartbeat", {}]))
        .await;
    let Incoming::Text(hb) = c.reply_to(&r).await else {
        panic!("text heartbeat reply");
    };
    assert_eq!(
        hb,
        json!([null, r, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );

    let reply = c.call(j, topic, "phx_leave", json!({})).await;
    assert_eq!(reply["status"], "ok");
    let after = c.call(j, topic, "fetch:plan", json!({})).await;
    assert_eq!(
        after,
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );
}

/// `GET /runs/r1` holds the completion, both steps with their fields merged, and the logs.
async fn assert_run_recorded(mock: &ServerHandle) {
    let done = mock
        .wait_for_final("r1", common::WAIT)
        .await
        .expect("final");
    assert_eq!(done["status"], "complete");
    let (status, run) = get(mock, "/runs/r1").await;
    assert_eq!(status, 200);
    assert_eq!(run["id"], "r1");
    assert_eq!(run["status"], "complete");
    assert_eq!(run["reason"], "fail");
    assert_eq!(run["error_type"], "JobError");
    assert_eq!(run["error_message"], "boom");
    assert_eq!(run["final_state"], json!({"data": {"y": 2}}));
    assert_eq!(run["final_dataclip_id"], "o2");
    let steps = run["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["input_dataclip_id"], "d", "step:start fields kept");
    assert_eq!(steps[0]["reason"], "success", "step:complete fields merged");
    assert_eq!(steps[1]["error_type"], "JobError");
    let logs = run["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[1]["message"], json!(["hello"]));
    for key in [
        "id",
        "status",
        "reason",
        "error_type",
        "error_message",
        "final_state",
        "final_dataclip_id",
        "steps",
        "logs",
    ] {
        assert!(run.get(key).is_some(), "GET /runs/:id has {key}");
    }
}

/// The bus saw the claim and every run-channel event with payloads as sent.
fn assert_bus_saw_every_event(events: &mut broadcast::Receiver<Event>) {
    let mut names = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if ev.public {
            if ev.name == "claim" {
                assert_eq!(
                    ev.data,
                    json!({"payload": [{"id": "r1", "token": "x.y.z"}]})
                );
            } else {
                assert_eq!(ev.data["runId"], "r1");
            }
            names.push(ev.name);
        }
    }
    assert_eq!(
        names,
        [
            "claim",
            "fetch:plan",
            "fetch:dataclip",
            "fetch:credential",
            "fetch:credential",
            "fetch:credential",
            // the request sent after %TIMEOUT% to show it went unanswered
            "fetch:credential",
            "run:batch_logs",
            "run:start",
            "run:start",
            "step:start",
            "run:log",
            "step:complete",
            "step:start",
            "step:complete",
            "run:complete"
        ]
    );
}

/// An event refused and the reply's response.
type Refusal = (&'static str, Value, Value);

fn blank() -> Value {
    json!(["This field can't be blank."])
}

/// Invalid `step:start` and `step:complete` payloads (after `s1` started) and their refusals.
fn invalid_step_events() -> Vec<Refusal> {
    let blank = blank();
    vec![
        (
            "step:start",
            json!({"step_id": "x"}),
            json!({"errors": {"job_id": blank}}),
        ),
        (
            "step:start",
            json!({"step_id": "x", "job_id": null}),
            json!({"errors": {"job_id": ["Job not found!"]}}),
        ),
        (
            "step:start",
            json!({"step_id": "x", "job_id": "nope"}),
            json!({"errors": {"job_id": ["Job not found!"]}}),
        ),
        (
            "step:start",
            json!({"job_id": "j1"}),
            json!({"errors": {"step_id": blank}}),
        ),
        (
            "step:start",
            json!({"step_id": "s1", "job_id": "j1", "timestamp": "1"}),
            json!({"errors": {"step_id": ["has already been taken"]}}),
        ),
        (
            "step:start",
            json!({"step_id": "s9", "job_id": "j1", "timestamp": "yesterday"}),
            json!({"errors": {"timestamp": ["is invalid: expected microseconds since the epoch"]}}),
        ),
        (
            "step:complete",
            json!({"step_id": "s1", "output_dataclip": "{}", "output_dataclip_id": "o"}),
            json!({"errors": {"reason": blank}}),
        ),
        (
            "step:complete",
            json!({"step_id": "s1", "reason": "ok", "output_dataclip": "{}", "output_dataclip_id": "o"}),
            json!({"errors": {"reason": ["is invalid: expected one of success, fail, crash, exception, kill, cancel"]}}),
        ),
        (
            "step:complete",
            json!({"step_id": "s1", "reason": "success", "error_type": "X", "output_dataclip": "{}", "output_dataclip_id": "o"}),
            json!({"errors": {"error_type": ["must be null when the reason is success"]}}),
        ),
        (
            "step:complete",
            json!({"step_id": "s1", "reason": "success", "output_dataclip_id": "o"}),
            json!({"errors": {"output_dataclip": blank}}),
        ),
        (
            "step:complete",
            json!({"step_id": "s1", "reason": "success", "output_dataclip": "{}"}),
            json!({"errors": {"output_dataclip_id": blank}}),
        ),
        (
            "step:complete",
            json!({"step_id": "zz", "reason": "success", "output_dataclip": "{}", "output_dataclip_id": "o"}),
            json!({"errors": {"step_id": ["does not belong to this run (no step:start seen)"]}}),
        ),
        (
            "step:complete",
            json!({"reason": "success"}),
            json!({"errors": {"step_id": blank}}),
        ),
    ]
}

/// Invalid `run:log`, `run:batch_logs`, `run:complete` and `fetch:*` payloads, an unknown
/// event, and their refusals.
fn invalid_log_and_run_events() -> Vec<Refusal> {
    let blank = blank();
    vec![
        (
            "run:log",
            json!({"source": "R/T", "level": "info", "timestamp": ts()}),
            json!({"errors": {"message": blank}}),
        ),
        (
            "run:log",
            json!({"message": ["m"], "source": "TOOLONGNAME", "level": "loud", "timestamp": ts()}),
            json!({"errors": {"source": ["should be at most 8 character(s)"], "level": ["is invalid: expected one of debug, info, warn, error, success, always"]}}),
        ),
        (
            "run:log",
            json!({"message": ["m"], "source": "JOB", "level": "info"}),
            json!({"errors": {"timestamp": blank}}),
        ),
        (
            "run:log",
            json!({"message": ["m"], "source": "JOB", "level": "info", "timestamp": ts(), "step_id": "other"}),
            json!({"errors": {"step_id": ["does not belong to this run"]}}),
        ),
        (
            "run:batch_logs",
            json!({"run_id": "v1"}),
            json!({"errors": {"logs": blank}}),
        ),
        (
            "run:batch_logs",
            json!({"logs": [{"message": ["ok"], "source": "JOB", "level": "info", "timestamp": ts()}, {"message": ["m"], "level": "info", "timestamp": ts()}]}),
            json!({"errors": {"logs": [{}, {"source": blank}]}}),
        ),
        (
            "run:complete",
            json!({"reason": "success", "extra": 1, "more": 2}),
            json!({"errors": {"base": ["Unexpected keys: extra, more"]}}),
        ),
        (
            "run:complete",
            json!({"final_state": {}}),
            json!({"errors": {"reason": blank}}),
        ),
        (
            "fetch:credential",
            json!({}),
            json!({"errors": {"id": blank}}),
        ),
        (
            "fetch:dataclip",
            json!({"id": "missing"}),
            json!("not_found"),
        ),
        (
            "run:teleport",
            json!({}),
            json!({"reason": "unknown event run:teleport"}),
        ),
    ]
}
