//! Benchmark of the mock: claim throughput with many concurrent claimers, and full run round
//! trips (claim, join, plan, start, step, complete) over one socket. Prints the median of
//! repeated runs. `cargo run --release -p openfn-lightning-mock --example bench_mock`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Client, start_with};
use openfn_lightning_mock::Config;
use serde_json::json;

const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn claim_throughput(runs: usize, claimers: usize) -> f64 {
    let mock = start_with(Config {
        push_on_enqueue: false,
        ..Config::default()
    })
    .await;
    for i in 0..runs {
        let _ = mock.enqueue_run(json!({"id": format!("r{i}"), "jobs": []}));
    }
    let mut clients = Vec::new();
    for _ in 0..claimers {
        let mut c = Client::connect(&mock, "token=t").await;
        let q = c.join_queue().await;
        clients.push((c, q));
    }
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(mut c, q)| {
            tokio::spawn(async move {
                let mut n = 0;
                while !c.claim(&q, 1, &["*"]).await.is_empty() {
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    let elapsed = started.elapsed();
    assert_eq!(total, runs);
    mock.shutdown().await;
    runs as f64 / elapsed.as_secs_f64()
}

async fn round_trips(runs: usize) -> (f64, Duration) {
    let mock = start_with(Config::default()).await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    let mut latencies = Vec::with_capacity(runs);
    let started = Instant::now();
    for i in 0..runs {
        let id = format!("run-{i}");
        let _ = mock.enqueue_run(json!({"id": id, "jobs": [{"id": "j"}]}));
        let t0 = Instant::now();
        let claimed = c.claim(&q, 1, &["*"]).await;
        assert_eq!(claimed.len(), 1);
        let topic = format!("run:{id}");
        let (j, _) = c.join(&topic, json!({"token": "x.y.z"})).await;
        let j = Some(j.as_str());
        c.call(j, &topic, "fetch:plan", json!({})).await;
        c.call(j, &topic, "run:start", json!({})).await;
        c.call(
            j,
            &topic,
            "step:start",
            json!({"step_id": "s", "job_id": "j"}),
        )
        .await;
        c.call(j, &topic, "step:complete", json!({"step_id": "s", "reason": "success", "output_dataclip": "{}", "output_dataclip_id": format!("o{i}")})).await;
        let done = c
            .call(
                j,
                &topic,
                "run:complete",
                json!({"reason": "success", "final_state": {}}),
            )
            .await;
        assert_eq!(done["status"], "ok");
        c.call(j, &topic, "phx_leave", json!({})).await;
        latencies.push(t0.elapsed());
    }
    let rate = runs as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let p50 = latencies[latencies.len() / 2];
    mock.shutdown().await;
    (rate, p50)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut claims = Vec::new();
    let mut rates = Vec::new();
    let mut p50s = Vec::new();
    for _ in 0..REPEATS {
        claims.push(claim_throughput(10_000, 16).await);
        let (rate, p50) = round_trips(1_000).await;
        rates.push(rate);
        p50s.push(p50.as_secs_f64() * 1e6);
    }
    println!(
        "mock claim throughput (10k runs, 16 claimers): {:.0} claims/s (median of {REPEATS})",
        median(claims)
    );
    println!(
        "mock full run round trip (8 messages/run, 1 socket): {:.0} runs/s, p50 {:.0} us (median of {REPEATS})",
        median(rates),
        median(p50s)
    );
}
