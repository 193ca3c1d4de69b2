//! End to end: workloop priorities, `--no-loop` with `POST /claim`, readiness, and run-token
//! verification (a bad token makes the worker refuse the run and shut down).
//!
//! The worker runs the real engine, except in the fast-lane test: it is about the workloops, and
//! needs runs that stay busy until the test lets them go (a gate around `MockExecutor`), so
//! that its ordering is decided by the worker alone and not by how long a job takes.

mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use openfn_lightning_mock::Config as MockConfig;
use openfn_ws_worker::executor::{EngineEvent, Executor, Resolvers, RunRequest};
use openfn_ws_worker::{MockExecutor, Worker};
use serde_json::{Value, json};
use support::{Harness, http_body, http_request, job, start, worker_config};
use tokio::sync::{Semaphore, mpsc};

/// `MockExecutor` behind a gate: a run whose plan says `"hold"` in a job body waits for a
/// permit before it starts.
struct Gated(Arc<Semaphore>);

impl Executor for Gated {
    fn execute(
        &self,
        request: RunRequest,
        resolvers: Arc<dyn Resolvers>,
    ) -> mpsc::UnboundedReceiver<EngineEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let hold = request.plan["jobs"][0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("hold"));
        let gate = self.0.clone();
        tokio::spawn(async move {
            if hold && let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
            let mut inner = MockExecutor.execute(request, resolvers);
            while let Some(ev) = inner.recv().await {
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        rx
    }
}

fn ok_job() -> Value {
    job("export default [s => ({ data: {} })]")
}

const T: Duration = Duration::from_secs(10);

async fn enqueue_on(h: &Harness, queue: &str, plan: &Value) -> String {
    let addr = h.mock.addr();
    let (code, body) = http_body(addr, "POST", &format!("/run?queue={queue}"), Some(plan))
        .await
        .expect("post");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .expect("id")
}

fn times(h: &Harness, id: &str, key: &str) -> u64 {
    h.mock
        .run(id)
        .and_then(|r| r["times"][key].as_u64())
        .unwrap_or(u64::MAX)
}

#[tokio::test]
async fn a_fast_lane_is_not_blocked_by_a_busy_general_loop() {
    let gate = Arc::new(Semaphore::new(0));
    let h = support::start_on(
        support::EngineKind::Custom(Arc::new(Gated(gate.clone()))),
        MockConfig::default(),
        &["--workloops", "fast_lane:1 manual>*:1"],
        &[],
        |_| {},
    )
    .await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    let held = support::mock_job(json!({"data": {"held": "hold"}}));
    let slow1 = enqueue_on(&h, "manual", &held).await;
    let slow2 = enqueue_on(&h, "manual", &held).await;
    // Claimed, and held by the gate before its run starts.
    h.wait_until("slow1 claimed", T, || {
        h.mock.run(&slow1).is_some_and(|r| r["status"] == "claimed")
    })
    .await;
    let fast = enqueue_on(
        &h,
        "fast_lane",
        &support::mock_job(json!({"data": {"fast": true}})),
    )
    .await;
    let run = h.wait_final(&fast, T).await;
    assert_eq!(run["reason"], "success");
    // slow1 holds the general loop's only slot until the gate opens: the fast lane ran
    // meanwhile, and the strict fast lane never took the manual slow2.
    assert_eq!(h.mock.run(&slow1).expect("slow1")["status"], "claimed");
    assert_eq!(h.mock.run(&slow2).expect("slow2")["status"], "queued");
    gate.add_permits(2);
    h.wait_final(&slow1, T).await;
    h.wait_final(&slow2, T).await;
    assert!(times(&h, &slow2, "claimed_at") >= times(&h, &slow1, "finished_at"));
}

#[tokio::test]
async fn no_loop_claims_only_on_post_claim() {
    // Lightning's `work-available` claims even with --no-loop (docs/protocol.md §3.3), so this
    // mock does not push one on enqueue (as `--wakeup-only`): only `POST /claim` claims.
    let h = start(
        MockConfig {
            push_on_enqueue: false,
            ..MockConfig::default()
        },
        &["--no-loop"],
    )
    .await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    let (code, _) = http_body(h.http, "POST", "/claim", None)
        .await
        .expect("claim");
    assert_eq!(code, 204);
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { y: 2 } })]"))
        .expect("enqueue");
    // One claim so far (the empty one above): the worker claimed nothing by itself.
    assert!(
        h.worker
            .metrics_text()
            .contains("openfn_worker_claims_total 1\n"),
        "{}",
        h.worker.metrics_text()
    );
    assert_eq!(h.mock.run(&id).expect("run")["status"], "queued");
    let (code, body) = http_body(h.http, "POST", "/claim", None)
        .await
        .expect("claim");
    assert_eq!((code, body.as_str()), (200, "complete"));
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success");
    assert_eq!(run["final_state"], json!({"data": {"y": 2}}));
}

#[tokio::test]
async fn no_loop_still_claims_on_work_available() {
    let h = start(MockConfig::default(), &["--no-loop"]).await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { pushed: true } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run}");
}

#[tokio::test]
async fn not_ready_until_joined() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let config = worker_config(&format!("ws://127.0.0.1:{port}/worker"), &[], &[]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Readiness is the worker's own: nothing runs, so the mock engine does.
    let worker = Worker::start(config, Arc::new(MockExecutor)).expect("start");
    tokio::spawn(openfn_ws_worker::http::serve(listener, worker.clone()));
    let (code, _) = http_request(addr, "GET", "/readyz").await;
    assert_eq!(code, 503);
    let (code, body) = http_request(addr, "GET", "/livez").await;
    assert_eq!((code, body.as_str()), (200, "OK"));
}

fn mock_with_keys() -> MockConfig {
    MockConfig {
        runs_private_key: Some(include_str!("fixtures/run_private.pem").to_string()),
        ..MockConfig::default()
    }
}

#[tokio::test]
async fn valid_run_tokens_are_accepted() {
    let key = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(include_str!("fixtures/run_public_pkcs1.pem"));
    let h = start(mock_with_keys(), &["--lightning-public-key", &key]).await;
    let id = h.mock.enqueue_run(ok_job()).expect("enqueue");
    let run = h.wait_final(&id, T).await;
    assert_eq!(run["reason"], "success", "{run}");
}

#[tokio::test]
async fn an_invalid_run_token_refuses_the_run_and_shuts_down() {
    let key = base64::engine::general_purpose::STANDARD
        .encode(include_str!("fixtures/other_public_spki.pem"));
    let h = start(mock_with_keys(), &["--lightning-public-key", &key]).await;
    let id = h.mock.enqueue_run(ok_job()).expect("enqueue");
    let code = tokio::time::timeout(T, h.worker.wait())
        .await
        .expect("the worker shuts down");
    assert_eq!(code, 1);
    let run = h.mock.run(&id).expect("run");
    assert_ne!(run["status"], "started", "{run}");
    assert_ne!(run["status"], "complete", "{run}");
    assert!(run["steps"].as_array().is_none_or(Vec::is_empty));
}

#[tokio::test]
async fn work_available_claims_at_once_despite_a_long_backoff() {
    let h = support::start_with(MockConfig::default(), &[], &[], |c| {
        c.backoff_min = Duration::from_secs(30);
        c.backoff_max = Duration::from_secs(60);
    })
    .await;
    h.wait_until("ready", T, || h.worker.ready()).await;
    // The first (empty) claim went out; the loop now sleeps 30 s.
    h.wait_until("first claim", T, || {
        h.worker
            .metrics_text()
            .contains("openfn_worker_claims_empty_total 1")
    })
    .await;
    let id = h
        .mock
        .enqueue_run(job("export default [s => ({ data: { woken: true } })]"))
        .expect("enqueue");
    let run = h.wait_final(&id, Duration::from_secs(5)).await;
    assert_eq!(run["reason"], "success");
}
