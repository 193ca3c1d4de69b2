//! Claiming: exactly-once under many concurrent claimers, queue preference and priority,
//! demand, debounced `work-available`, claim rollback and the janitor's `lost` runs.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Client, eventually, get, post, start, start_with, tiny};
use openfn_lightning_mock::Config;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_runs_many_claimers_no_double_claim() {
    const RUNS: usize = 10_000;
    const CLAIMERS: usize = 24;
    let mock = start_with(Config {
        push_on_enqueue: false,
        ..Config::default()
    })
    .await;
    for i in 0..RUNS {
        mock.enqueue_run(json!({"id": format!("run-{i}"), "jobs": []}))
            .expect("enqueue");
    }
    let mut tasks = Vec::new();
    for n in 0..CLAIMERS {
        let mut c = Client::connect(&mock, "token=t").await;
        tasks.push(tokio::spawn(async move {
            let q = c.join_queue().await;
            let demand = (n % 3 + 1) as u64;
            let mut mine = Vec::new();
            loop {
                let runs = c.claim(&q, demand, &["manual", "*"]).await;
                assert!(runs.len() <= demand as usize, "demand honoured");
                if runs.is_empty() {
                    break;
                }
                mine.extend(
                    runs.into_iter()
                        .map(|r| r["id"].as_str().unwrap_or_default().to_owned()),
                );
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for task in tasks {
        for id in task.await.expect("claimer") {
            total += 1;
            assert!(seen.insert(id.clone()), "run {id} claimed twice");
        }
    }
    assert_eq!(total, RUNS);
    assert_eq!(seen.len(), RUNS);
    let runs = mock.runs();
    let all = runs.as_array().expect("runs");
    assert!(all.iter().all(|r| r["status"] == "claimed"));
    mock.shutdown().await;
}

#[tokio::test]
async fn queue_preference_priority_and_worker_name() {
    let mock = start().await;
    for (id, queue, priority) in [
        ("d1", "default", "normal"),
        ("m1", "manual", "normal"),
        ("d2", "default", "immediate"),
        ("f1", "fast_lane", "normal"),
    ] {
        let (status, _) = post(
            &mock,
            &format!("/run?queue={queue}&priority={priority}"),
            tiny(Some(id)),
        )
        .await;
        assert_eq!(status, 200);
    }
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    let ids = |runs: Vec<Value>| -> Vec<String> {
        runs.iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(ids(c.claim(&q, 1, &["fast_lane"]).await), ["f1"]);
    assert!(
        c.claim(&q, 1, &["fast_lane"]).await.is_empty(),
        "strict chain"
    );
    let reply = c
        .call(
            Some(&q),
            "worker:queue",
            "claim",
            json!({"demand": 2, "worker_name": "pod-7", "queues": ["manual", "*"]}),
        )
        .await;
    let claimed: Vec<String> = reply["response"]["runs"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        claimed,
        ["m1", "d2"],
        "preferred queue first, then the best of any queue"
    );
    assert_eq!(get(&mock, "/runs/m1").await.1["worker_name"], "pod-7");
    assert_eq!(ids(c.claim(&q, 3, &["*"]).await), ["d1"]);
    mock.shutdown().await;
}

/// The mock's report of its next `work-available` push (a dashboard event).
async fn next_push(
    events: &mut tokio::sync::broadcast::Receiver<openfn_lightning_mock::Event>,
) -> Value {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a push within 10 s")
            .expect("event stream open");
        if e.name == "work-available" {
            return e.data["payload"].clone();
        }
    }
}

#[tokio::test]
async fn work_available_is_pushed_and_debounced() {
    let mock = start_with(Config {
        work_available_debounce: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let mut events = mock.subscribe();
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    post(&mock, "/run", tiny(None)).await;
    let push = c.push("work-available").await;
    assert_eq!(
        push,
        json!([q, null, "worker:queue", "work-available", {}]),
        "object payload, join_ref set"
    );
    let first = next_push(&mut events).await;
    assert_eq!(first["wakes"], 1, "{first}");
    assert!(first["since_last_push_ms"].is_null(), "{first}");
    for _ in 0..5 {
        post(&mock, "/run", tiny(None)).await;
    }
    // The mock reports each push with the wakes it answers and the time since the previous
    // push: the five wakes are answered by later pushes, each at least a window after the one
    // before (one push per window), and once all are answered none is pending.
    let mut answered = 0;
    let mut pushes = 0;
    while answered < 5 {
        c.push("work-available").await;
        let p = next_push(&mut events).await;
        pushes += 1;
        answered += p["wakes"].as_u64().expect("wakes");
        assert!(
            p["since_last_push_ms"].as_u64().is_some_and(|ms| ms >= 300),
            "a push within the window: {p}"
        );
    }
    assert_eq!(answered, 5);
    assert!(pushes < 5, "five wakes were not coalesced: {pushes} pushes");

    // --wakeup-only: nothing on plain enqueue, a push with ?wakeup=true.
    let quiet = start_with(Config {
        push_on_enqueue: false,
        ..Config::default()
    })
    .await;
    let mut c = Client::connect(&quiet, "token=t").await;
    c.join_queue().await;
    let mut events = quiet.subscribe();
    post(&quiet, "/run", tiny(None)).await;
    post(&quiet, "/run?wakeup=true", tiny(None)).await;
    post(&quiet, "/run?wakeup=true", tiny(None)).await;
    // The pushes answer exactly the two wakeups: had the plain enqueue woken the worker too,
    // they would answer three.
    let mut answered = 0;
    while answered < 2 {
        c.push("work-available").await;
        answered += next_push(&mut events).await["wakes"]
            .as_u64()
            .expect("wakes");
    }
    assert_eq!(answered, 2);
    mock.shutdown().await;
    quiet.shutdown().await;
}

#[tokio::test]
async fn unjoined_claims_roll_back_and_silent_runs_are_lost() {
    let mock = start_with(Config {
        claim_join_timeout: Duration::from_millis(150),
        janitor_interval: Duration::from_millis(20),
        lost_grace: Duration::from_millis(50),
        ..Config::default()
    })
    .await;
    mock.enqueue_run(json!({"id": "rb", "jobs": [], "options": {"run_timeout_ms": 100000}}))
        .expect("enqueue");
    mock.enqueue_run(
        json!({"id": "lost-start", "jobs": [{"id": "j"}], "options": {"run_timeout_ms": 100}}),
    )
    .expect("enqueue");
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    assert_eq!(c.claim(&q, 1, &["*"]).await[0]["id"], "rb");
    // Not joined: back in the queue, claimable again.
    eventually(async || (get(&mock, "/runs/rb").await.1["status"] == "queued").then_some(())).await;
    let again = c.claim(&q, 2, &["*"]).await;
    assert_eq!(again.len(), 2);
    // Join both; start one; stay silent.
    c.join("run:rb", json!({"token": "x.y.z"})).await;
    let (j, _) = c.join("run:lost-start", json!({"token": "x.y.z"})).await;
    c.call(Some(&j), "run:lost-start", "run:start", json!({}))
        .await;
    c.call(
        Some(&j),
        "run:lost-start",
        "step:start",
        json!({"step_id": "s", "job_id": "j"}),
    )
    .await;
    let run = eventually(async || {
        let run = get(&mock, "/runs/lost-start").await.1;
        (run["status"] == "lost").then_some(run)
    })
    .await;
    assert_eq!(run["reason"], "lost");
    assert_eq!(run["error_type"], "LostAfterStart");
    assert_eq!(
        run["steps"][0]["reason"], "lost",
        "unfinished steps are lost too"
    );
    // The joined run with a long timeout is neither rolled back nor lost.
    assert_eq!(get(&mock, "/runs/rb").await.1["status"], "claimed");

    let slow = start_with(Config {
        claim_join_timeout: Duration::from_secs(60),
        janitor_interval: Duration::from_millis(20),
        lost_grace: Duration::from_millis(10),
        ..Config::default()
    })
    .await;
    slow.enqueue_run(json!({"id": "lc", "jobs": [], "options": {"run_timeout_ms": 50}}))
        .expect("enqueue");
    let mut c2 = Client::connect(&slow, "token=t").await;
    let q2 = c2.join_queue().await;
    c2.claim(&q2, 1, &["*"]).await;
    let run = eventually(async || {
        let run = get(&slow, "/runs/lc").await.1;
        (run["status"] == "lost").then_some(run)
    })
    .await;
    assert_eq!(run["error_type"], "LostAfterClaim");
    // A lost run can't be completed any more.
    let (j, _) = c2.join("run:lc", json!({"token": "x.y.z"})).await;
    let reply = c2
        .call(
            Some(&j),
            "run:lc",
            "run:complete",
            json!({"reason": "success"}),
        )
        .await;
    assert_eq!(
        reply["response"],
        json!({"errors": {"state": ["the run is already lost"]}})
    );
    mock.shutdown().await;
    slow.shutdown().await;
}
