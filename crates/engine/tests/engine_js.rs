//! End to end through real children running the real compiler and QuickJS runtime: every
//! error class the engine and runtime produce (docs/protocol.md §4.3), limits, isolation of runaway
//! runs, a SIGKILLed child, and a 10 MB state through three steps.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use openfn_engine::{ChildCommand, Engine, EngineConfig, EngineEvent, Input, RunOptions};
use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

fn js_engine(capacity: usize) -> Engine {
    js_engine_timeout(capacity, 2000)
}

fn js_engine_timeout(capacity: usize, run_timeout_ms: u64) -> Engine {
    Engine::new(EngineConfig {
        capacity,
        repo_dir: repo(),
        memory_limit_mb: 64,
        run_timeout_ms,
        kill_grace: Duration::from_millis(500),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .expect("engine")
}

async fn js_run(engine: &Engine, plan: Value) -> Vec<EngineEvent> {
    events_within(run(engine, plan), 60).await
}

fn job_error(events: &[EngineEvent]) -> Option<(String, openfn_engine::ErrorInfo)> {
    events.iter().find_map(|e| match e {
        EngineEvent::JobError { job_id, error, .. } => Some((job_id.clone(), error.clone())),
        _ => None,
    })
}

#[tokio::test]
async fn a_javascript_workflow_runs_and_streams_events() {
    let engine = js_engine(1);
    let events = js_run(
        &engine,
        js_plan(
            "ok",
            &[
                "fn(s => { console.log('hi'); s.data.x = 1; return s; })",
                "fn(s => { s.data.y = s.data.x + 1; return s; })",
            ],
        ),
    )
    .await;
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "x": 1, "y": 2 } })),
        "{:?}",
        workflow_error(&events)
    );
    let n = names(&events);
    for expected in [
        "workflow-start",
        "compile-start",
        "compile-complete",
        "job-start",
        "job-complete",
        "workflow-complete",
    ] {
        assert!(n.contains(&expected), "missing {expected} in {n:?}");
    }
    assert!(
        logs(&events)
            .iter()
            .any(|(name, msg)| name == "JOB" && msg == r#"["hi"]"#)
    );
    // The adaptor came from the repository (already installed: no registry needed).
    assert!(
        matches!(&events[0], EngineEvent::AutoinstallComplete { module, version, .. }
        if module == "@openfn/language-common" && version == "1.0.0")
    );
    let versions = events.iter().find_map(|e| match e {
        EngineEvent::WorkflowStart { versions, .. } => Some(versions.clone()),
        _ => None,
    });
    assert_eq!(
        versions.unwrap()["@openfn/language-common"],
        json!(["1.0.0"])
    );
}

/// `mem` on job-complete: the child's QuickJS heap and RSS always; the step's peak RSS only
/// when the engine profiles (the worker's `--profile`).
#[tokio::test]
async fn job_complete_memory_and_profiled_peak() {
    let mems = |events: &[EngineEvent]| -> Vec<openfn_engine::Mem> {
        events
            .iter()
            .filter_map(|e| match e {
                EngineEvent::JobComplete { mem, .. } => Some(*mem),
                _ => None,
            })
            .collect()
    };
    let job =
        "fn(s => { const big = 'x'.repeat(32 * 1024 * 1024); s.data.n = big.length; return s; })";
    let plain = js_run(&js_engine(1), js_plan("mem", &[job])).await;
    let m = mems(&plain);
    assert_eq!(m.len(), 1, "{:?}", workflow_error(&plain));
    assert!(
        m[0].job > 0 && m[0].system > 0 && m[0].peak.is_none(),
        "{m:?}"
    );

    let profiling = Engine::new(EngineConfig {
        capacity: 1,
        repo_dir: repo(),
        memory_limit_mb: 128,
        profile: true,
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .expect("engine");
    let profiled = js_run(&profiling, js_plan("mem", &[job])).await;
    let m = mems(&profiled);
    assert_eq!(m.len(), 1, "{:?}", workflow_error(&profiled));
    let peak = m[0].peak.expect("peak when profiling");
    assert!(peak >= 32 * 1024 * 1024 && peak >= m[0].system, "{m:?}");
}

#[tokio::test]
async fn job_errors_fail_the_step_and_the_workflow_carries_on() {
    let engine = js_engine(1);
    let events = js_run(
        &engine,
        js_plan("f", &["fn(s => { throw new Error('boom'); })"]),
    )
    .await;
    let (job, e) = job_error(&events).unwrap();
    assert_eq!(
        (job.as_str(), error_tuple(&e)),
        ("job-1", ("JobError", "boom", "fail"))
    );
    assert!(final_state(&events).is_some());

    let events = js_run(&engine, js_plan("t", &["fn(s => s.data.nope.map(x => x))"])).await;
    let (_, e) = job_error(&events).unwrap();
    assert_eq!(e.error_type, "RuntimeError");
    assert_eq!(e.severity.as_str(), "fail");
    assert_eq!(e.subtype.as_deref(), Some("TypeError"));

    let events = js_run(&engine, js_plan("a", &["fail('adaptor err')"])).await;
    let (_, e) = job_error(&events).unwrap();
    assert_eq!(error_tuple(&e), ("AdaptorError", "adaptor err", "fail"));
}

#[tokio::test]
async fn crashes_end_the_run() {
    let engine = js_engine(1);
    let events = js_run(&engine, js_plan("r", &["fn(s => wibble)", "fn(s => s)"])).await;
    let e = workflow_error(&events).unwrap();
    assert_eq!(
        (e.reported_type(), e.severity.as_str()),
        ("ReferenceError", "crash")
    );
    assert_eq!(e.message, "ReferenceError: wibble is not defined");
    assert_eq!(
        names(&events).iter().filter(|n| **n == "job-start").count(),
        1
    );

    let events = js_run(
        &engine,
        js_plan("i", &["import _ from 'lodash';\nfn(s => s)"]),
    )
    .await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("ImportError", "module blacklisted: lodash", "crash")
    );

    let mut p = js_plan("v", &["fn(s => s)"]);
    p["options"]["start"] = json!("nope");
    let events = js_run(&engine, p).await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("ValidationError", "Could not find start job: nope", "crash")
    );

    let mut p = js_plan("e", &["fn(s => s)", "fn(s => s)"]);
    p["workflow"]["steps"][0]["next"] = json!({ "job-2": { "condition": "wibble" } });
    let events = js_run(&engine, p).await;
    let e = workflow_error(&events).unwrap();
    assert_eq!(
        (e.error_type.as_str(), e.severity.as_str()),
        ("EdgeConditionError", "crash")
    );
}

#[tokio::test]
async fn a_syntax_error_is_a_compile_error_from_the_child() {
    let engine = js_engine(1);
    let events = js_run(
        &engine,
        js_plan("c", &["fn(s => s)", "fn(s => s);\nfn(s => ~@]"]),
    )
    .await;
    let e = workflow_error(&events).unwrap();
    assert_eq!(
        (e.error_type.as_str(), e.severity.as_str()),
        ("CompileError", "crash")
    );
    assert!(e.message.starts_with("Job 2: "), "{}", e.message);
    assert!(logs(&events).contains(&(
        "RTE".to_owned(),
        r#"["Error occurred during compilation"]"#.to_owned()
    )));
    assert!(!names(&events).contains(&"job-start"));
}

#[tokio::test]
async fn kill_errors_from_the_runtime() {
    let engine = js_engine(1);
    let events = js_run(
        &engine,
        js_plan("s", &["fn(s => { eval('1'); return s; })"]),
    )
    .await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        ("SecurityError", "Illegal eval statement detected", "kill")
    );
    // The state limit is a quarter of the 64 MB memory limit.
    let events = js_run(
        &engine,
        js_plan(
            "b",
            &["fn(s => { s.data.big = 'x'.repeat(20 * 1024 * 1024); return s; })"],
        ),
    )
    .await;
    assert_eq!(
        error_tuple(workflow_error(&events).unwrap()),
        (
            "StateTooLargeError",
            "State exceeds the limit of 16mb",
            "kill"
        )
    );
}

#[tokio::test]
async fn oom_and_timeout_in_javascript_do_not_disturb_four_other_runs() {
    let engine = js_engine(3);
    let oom = run(
        &engine,
        js_plan(
            "oom",
            &["fn(s => { const a = []; while (true) a.push(new Array(100000).fill(1)); })"],
        ),
    );
    let forever = run(
        &engine,
        js_plan("forever", &["fn(s => { while (true) {} })"]),
    );
    let others: Vec<_> = (0..4)
        .map(|i| {
            run(
                &engine,
                js_plan(
                    &format!("ok-{i}"),
                    &[
                        "fn(s => { s.data.i = 1; return s; })",
                        "fn(s => { s.data.j = 2; return s; })",
                    ],
                ),
            )
        })
        .collect();
    let oom = tokio::spawn(events_within(oom, 60));
    let forever = tokio::spawn(events_within(forever, 60));
    for handle in others {
        let events = events_within(handle, 60).await;
        assert_eq!(
            final_state(&events),
            Some(json!({ "data": { "i": 1, "j": 2 } })),
            "{:?}",
            workflow_error(&events)
        );
    }
    assert_eq!(
        error_tuple(workflow_error(&oom.await.unwrap()).unwrap()),
        ("OOMError", "Run exceeded maximum memory usage", "kill")
    );
    assert_eq!(
        error_tuple(workflow_error(&forever.await.unwrap()).unwrap()),
        (
            "TimeoutError",
            "Workflow failed to return within 2000ms",
            "kill"
        )
    );
    let events = js_run(&engine, js_plan("after", &["fn(s => s)"])).await;
    assert!(
        final_state(&events).is_some(),
        "pool healed: {:?}",
        workflow_error(&events)
    );
}

#[tokio::test]
async fn a_javascript_child_killed_mid_run_is_an_exit_error() {
    let engine = js_engine(1);
    let mut handle = run(
        &engine,
        js_plan(
            "k",
            &["fn(s => new Promise(r => setTimeout(() => r(s), 30000)))"],
        ),
    );
    let pid = next_matching(&mut handle, |e| match e {
        EngineEvent::JobStart { thread_id, .. } => Some(*thread_id),
        _ => None,
    })
    .await;
    sigkill(pid);
    let rest = events_within(handle, 30).await;
    assert_eq!(
        error_tuple(workflow_error(&rest).unwrap()),
        ("ExitError", "Process exited with code: 137", "crash")
    );
    let events = js_run(&engine, js_plan("n", &["fn(s => s)"])).await;
    assert!(final_state(&events).is_some());
}

#[tokio::test]
async fn a_ten_megabyte_state_flows_through_three_javascript_steps() {
    let engine = Engine::new(EngineConfig {
        capacity: 1,
        repo_dir: repo(),
        payload_limit_mb: 50.0,
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .unwrap();
    let input = serde_json::value::RawValue::from_string(
        json!({ "data": { "big": "z".repeat(10 << 20), "n": 0 } }).to_string(),
    )
    .unwrap();
    let step = "fn(s => { s.data.n += 1; return s; })";
    let handle = engine.execute(
        xp(js_plan("big", &[step, step, step])),
        Input::Value(input),
        RunOptions::default(),
        no_resolvers(),
    );
    let events = events_within(handle, 120).await;
    let state = final_state(&events).unwrap_or_else(|| panic!("{:?}", workflow_error(&events)));
    assert_eq!(state["data"]["n"], json!(3));
    assert_eq!(state["data"]["big"].as_str().map(str::len), Some(10 << 20));
    assert_eq!(
        names(&events)
            .iter()
            .filter(|n| **n == "job-complete")
            .count(),
        3
    );
}

/// The seed-002 lesson: a step whose compilation needs more memory than the run may use fails
/// that run alone with OOMError (compilation happens in the child, under the run's limit).
#[tokio::test]
async fn a_step_too_big_to_compile_within_the_memory_limit_is_an_oom_error() {
    // The big compile keeps a core busy for seconds on a loaded machine: the small run's
    // deadline must not be what this test measures.
    let engine = js_engine_timeout(2, 30_000);
    let entries: String = (0..1_500_000)
        .map(|i| format!("\"key{i}\": {{ \"a\": [{i}, \"v{i}\"] }},\n"))
        .collect();
    let huge = format!("fn(s => {{ s.data.map = {{\n{entries}}}; return s; }})");
    let options = RunOptions {
        memory_limit_mb: Some(8),
        ..RunOptions::default()
    };
    let big = engine.execute(
        xp(js_plan("huge", &[&huge])),
        Input::Empty,
        options,
        no_resolvers(),
    );
    let small = run(
        &engine,
        js_plan("small", &["fn(s => { s.data.ok = true; return s; })"]),
    );
    let big = events_within(big, 120).await;
    assert!(
        !names(&big).contains(&"compile-complete"),
        "{:?}",
        names(&big)
    );
    assert_eq!(
        error_tuple(workflow_error(&big).unwrap()),
        ("OOMError", "Run exceeded maximum memory usage", "kill")
    );
    let small = events_within(small, 60).await;
    assert_eq!(final_state(&small), Some(json!({ "data": { "ok": true } })));
}

#[tokio::test]
async fn credentials_and_step_states_are_resolved_lazily_through_the_supervisor() {
    let engine = js_engine(1);
    let mut resolvers = MapResolvers::default();
    resolvers
        .credentials
        .insert("cred-1".into(), Ok(r#"{"user":"ada"}"#.into()));
    resolvers
        .states
        .insert("clip-1".into(), Ok(r#"{"data":{"from":"clip"}}"#.into()));
    let mut p = js_plan(
        "lazy",
        &["fn(s => { s.data.user = s.configuration.user; return s; })"],
    );
    p["workflow"]["steps"][0]["configuration"] = json!("cred-1");
    p["workflow"]["steps"][0]["state"] = json!("clip-1");
    let handle = engine.execute(
        xp(p),
        Input::Empty,
        RunOptions::default(),
        std::sync::Arc::new(resolvers),
    );
    let events = events_within(handle, 60).await;
    let state = final_state(&events).unwrap_or_else(|| panic!("{:?}", workflow_error(&events)));
    assert_eq!(state["data"]["user"], json!("ada"));
    assert_eq!(state["data"]["from"], json!("clip"));
    assert!(
        state.get("configuration").is_none(),
        "configuration is removed from outputs"
    );
}
