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
    // A leak grows with every run; the allocator's own growth (arenas, fragmentation) comes in
    // steps and levels off. So the supervisor's RSS is read after each of two windows of 500
    // runs: a leak of 4 KiB a run or more grows both by 2 MiB or more, while the allocator's
    // one-off growth shows in one window at most.
    let mut rss = vec![sys::rss_bytes(None).unwrap()];
    for window in 0..2 {
        for i in 0..500 {
            let events = events_within(one(200 + window * 500 + i), 30).await;
            assert!(
                final_state(&events).is_some(),
                "run {i}: {:?}",
                workflow_error(&events)
            );
        }
        rss.push(sys::rss_bytes(None).unwrap());
    }
    let growth: Vec<u64> = rss.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
    assert!(
        growth.iter().any(|g| *g < 2 << 20),
        "supervisor RSS grew in both windows of 500 runs: {growth:?} bytes ({rss:?})"
    );
    assert!(engine.live_children() <= 2);
}
