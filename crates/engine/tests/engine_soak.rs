//! Many sequential runs through one engine: the supervisor's memory stays flat (no leak per run).

mod support;

use openfn_engine::{EngineConfig, sys};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sequential_runs_keep_supervisor_memory_flat() {
    let engine = engine_with(EngineConfig {
        capacity: 2,
        ..test_config()
    });
    let one = |i: usize| {
        run(
            &engine,
            plan(&format!("soak-{i}"), &["set x 1; log hello", "count"]),
        )
    };
    for i in 0..200 {
        let events = events_within(one(i), 30).await;
        assert!(final_state(&events).is_some());
    }
    let before = sys::rss_bytes(None).unwrap();
    for i in 0..1000 {
        let events = events_within(one(i), 30).await;
        assert!(
            final_state(&events).is_some(),
            "run {i}: {:?}",
            workflow_error(&events)
        );
    }
    let after = sys::rss_bytes(None).unwrap();
    let growth = after.saturating_sub(before);
    assert!(
        growth < 4 << 20,
        "supervisor RSS grew by {growth} bytes over 1000 runs ({before} -> {after})"
    );
    assert!(engine.live_children() <= 2);
}
