//! Hard limits through real child processes: timeout, out of memory (while running and while
//! compiling), exits and signals, and the pool healing after each of them while other runs on
//! the same engine carry on.

mod support;

use std::time::Duration;

use openfn_engine::{EngineConfig, EngineEvent, Input, RunOptions};
use serde_json::json;
use support::*;

fn limited(capacity: usize) -> openfn_engine::Engine {
    engine_with(limits(capacity, test_config()))
}

fn limits(capacity: usize, base: EngineConfig) -> EngineConfig {
    EngineConfig {
        capacity,
        memory_limit_mb: 64,
        run_timeout_ms: 1500,
        kill_grace: Duration::from_millis(300),
        ..base
    }
}

#[tokio::test]
async fn a_run_that_loops_forever_times_out_and_the_child_is_reused() {
    // Reuse is the pooled children's business: a forked run is never reused.
    let engine = engine_with(limits(1, pooled_config()));
    let events = events_within(run(&engine, plan("t", &["loop"])), 30).await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        (
            "TimeoutError",
            "Workflow failed to return within 1500ms",
            "kill"
        )
    );
    assert!(!names(&events).contains(&"workflow-complete"));
    let first = events.iter().find_map(thread_of).unwrap();
    // The child honoured the interrupt, so it serves the next run.
    let events = events_within(run(&engine, plan("n", &["count"])), 30).await;
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "count": 1 } }))
    );
    assert_eq!(events.iter().find_map(thread_of), Some(first));
}

#[tokio::test]
async fn a_run_that_ignores_the_interrupt_is_killed_and_replaced() {
    let engine = limited(1);
    let events = events_within(run(&engine, plan("t", &["spin"])), 30).await;
    assert_eq!(workflow_error(&events).unwrap().error_type, "TimeoutError");
    let first = events.iter().find_map(thread_of).unwrap();
    let events = events_within(run(&engine, plan("n", &["count"])), 30).await;
    assert!(final_state(&events).is_some());
    assert_ne!(events.iter().find_map(thread_of), Some(first));
}

#[tokio::test]
async fn unbounded_allocation_is_an_oom_error() {
    let engine = limited(1);
    let events = events_within(run(&engine, plan("m", &["set a 1", "alloc"])), 60).await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("OOMError", "Run exceeded maximum memory usage", "kill")
    );
    let events = events_within(run(&engine, plan("n", &["count"])), 30).await;
    assert!(final_state(&events).is_some(), "pool healed");
}

#[tokio::test]
async fn running_out_of_memory_while_compiling_is_an_oom_error() {
    let engine = limited(1);
    let events = events_within(run(&engine, plan("m", &["count", "compile-alloc"])), 60).await;
    assert!(!names(&events).contains(&"compile-complete"));
    assert_eq!(workflow_error(&events).unwrap().error_type, "OOMError");
}

#[tokio::test]
async fn the_address_space_backstop_catches_what_the_watchdog_misses() {
    // One 4 GB allocation never becomes resident, so the RSS watchdog cannot see it: only
    // RLIMIT_AS stops it. The child's allocator fails, it aborts, and its stderr says why.
    let engine = limited(1);
    let options = RunOptions {
        memory_limit_mb: Some(16),
        ..RunOptions::default()
    };
    let handle = engine.execute(
        xp(plan("m", &["hugealloc 4096"])),
        Input::Empty,
        options,
        no_resolvers(),
    );
    let events = events_within(handle, 60).await;
    assert_eq!(workflow_error(&events).unwrap().error_type, "OOMError");
}

#[tokio::test]
async fn a_child_exit_is_an_exit_error_with_its_code() {
    let engine = limited(1);
    let events = events_within(run(&engine, plan("x", &["exit 7"])), 30).await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("ExitError", "Process exited with code: 7", "crash")
    );
    let events = events_within(run(&engine, plan("a", &["abort"])), 30).await;
    assert_eq!(
        workflow_error(&events).unwrap().message,
        "Process exited with code: 134"
    );
    let events = events_within(run(&engine, plan("n", &["count"])), 30).await;
    assert!(final_state(&events).is_some(), "pool healed");
    // A pooled child stays for the next run; a forked run has exited.
    assert!(engine.live_children() <= 1);
}

#[tokio::test]
async fn a_child_killed_with_sigkill_mid_run_is_reported_and_replaced() {
    let engine = limited(2);
    let mut handle = run(&engine, plan("k", &["sleep 20000"]));
    let pid = next_matching(&mut handle, thread_of).await;
    sigkill(pid);
    let rest = events_within(handle, 30).await;
    assert_eq!(
        error_tuple(workflow_error(&rest).unwrap()),
        ("ExitError", "Process exited with code: 137", "crash")
    );
    let events = events_within(run(&engine, plan("n", &["count"])), 30).await;
    assert!(final_state(&events).is_some());
    assert_ne!(events.iter().find_map(thread_of), Some(pid));
}

#[tokio::test]
async fn step_errors_keep_their_class_and_severity() {
    let engine = limited(1);
    // A failed step does not stop the workflow.
    let events = events_within(run(&engine, plan("f", &["throw boom", "count"])), 30).await;
    let job_error = events.iter().find_map(|e| match e {
        EngineEvent::JobError { error, job_id, .. } => Some((job_id.clone(), error.clone())),
        _ => None,
    });
    let (job_id, error) = job_error.unwrap();
    assert_eq!(
        (job_id.as_str(), error_tuple(&error)),
        ("step-1", ("JobError", "boom", "fail"))
    );
    let state = final_state(&events).unwrap();
    assert_eq!(state["errors"]["step-1"]["message"], json!("boom"));
    assert_eq!(state["data"]["count"], json!(1));

    // A crash ends the run.
    let events = events_within(
        run(
            &engine,
            plan(
                "c",
                &[
                    "crash RuntimeCrash ReferenceError: x is not defined",
                    "count",
                ],
            ),
        ),
        30,
    )
    .await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("RuntimeCrash", "ReferenceError: x is not defined", "crash")
    );
    assert_eq!(
        names(&events).iter().filter(|n| **n == "job-start").count(),
        1
    );
}

#[tokio::test]
async fn compile_errors_name_the_step_and_log_first() {
    let engine = limited(1);
    let events = events_within(
        run(
            &engine,
            plan("c", &["count", "compile-error Unexpected token (1:9)"]),
        ),
        30,
    )
    .await;
    let e = workflow_error(&events).unwrap();
    assert_eq!(
        error_tuple(e),
        ("CompileError", "Step 2: Unexpected token (1:9)", "crash")
    );
    assert!(logs(&events).contains(&(
        "RTE".to_owned(),
        r#"["Error occurred during compilation"]"#.to_owned()
    )));
    assert!(!names(&events).contains(&"job-start"));
}

#[tokio::test]
async fn runaway_runs_do_not_disturb_four_others_on_the_same_engine() {
    let engine = limited(3);
    let oom = run(&engine, plan("oom", &["alloc"]));
    let forever = run(&engine, plan("forever", &["spin"]));
    let others: Vec<_> = (0..4)
        .map(|i| {
            run(
                &engine,
                plan(&format!("ok-{i}"), &["set x 1", "sleep 50; count"]),
            )
        })
        .collect();
    let oom = tokio::spawn(events_within(oom, 60));
    let forever = tokio::spawn(events_within(forever, 60));
    for handle in others {
        let events = events_within(handle, 60).await;
        assert_eq!(
            final_state(&events),
            Some(json!({ "data": { "x": 1, "count": 1 } }))
        );
    }
    assert_eq!(
        workflow_error(&oom.await.unwrap()).unwrap().error_type,
        "OOMError"
    );
    assert_eq!(
        workflow_error(&forever.await.unwrap()).unwrap().error_type,
        "TimeoutError"
    );
    let events = events_within(run(&engine, plan("after", &["count"])), 30).await;
    assert!(final_state(&events).is_some());
    assert!(engine.live_children() <= 3);
}

#[tokio::test]
async fn queued_runs_start_in_fifo_order() {
    let engine = limited(1);
    let handles: Vec<_> = (0..4)
        .map(|i| run(&engine, plan(&format!("q{i}"), &["sleep 20"])))
        .collect();
    let mut ends = Vec::new();
    for handle in handles {
        let events = events_within(handle, 60).await;
        let EngineEvent::WorkflowComplete { time, .. } = events.last().unwrap() else {
            panic!("no completion")
        };
        ends.push(*time);
    }
    let mut sorted = ends.clone();
    sorted.sort_unstable();
    assert_eq!(ends, sorted);
}

#[tokio::test]
async fn children_are_recycled_after_max_runs() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        max_runs_per_child: 2,
        ..pooled_config()
    });
    let mut pids = Vec::new();
    for i in 0..4 {
        let events = events_within(run(&engine, plan(&format!("r{i}"), &["count"])), 30).await;
        pids.push(events.iter().find_map(thread_of).unwrap());
    }
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    assert_eq!(pids[2], pids[3]);
}

#[tokio::test]
async fn destroy_instantly_kills_busy_children() {
    let engine = limited(1);
    let mut handle = run(&engine, plan("busy", &["sleep 20000"]));
    next_matching(&mut handle, |e| (e.name() == "job-start").then_some(())).await;
    engine.destroy(true);
    let rest = events_within(handle, 30).await;
    assert_eq!(workflow_error(&rest).unwrap().error_type, "ExecutionError");
    let events = events_within(run(&engine, plan("late", &["count"])), 30).await;
    assert_eq!(
        workflow_error(&events).unwrap().message,
        "engine is destroyed"
    );
}
