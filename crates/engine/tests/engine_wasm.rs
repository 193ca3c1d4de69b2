//! The wasm tier under the engine (`Sandbox::Wasm`, the `wasm` feature): runs execute in
//! pooled children that run the plan in a wasmtime instance. Events stream in order with each
//! step's fuel; credentials and dataclips come through the supervisor; a thrown error, an
//! infinite loop and a memory hog end as on the native tier; children are reused and replaced
//! as native ones are. Each error case is compared with the same plan on the native tier.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openfn_engine::{
    ChildCommand, Engine, EngineConfig, EngineEvent, Input, RunOptions, Sandbox, TemplateConfig,
    TemplateMode,
};
use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

fn engine_on(sandbox: Sandbox, run_timeout_ms: u64, memory_limit_mb: u64) -> Engine {
    Engine::new(EngineConfig {
        capacity: 1,
        repo_dir: repo(),
        memory_limit_mb,
        run_timeout_ms,
        kill_grace: Duration::from_millis(300),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        templates: TemplateConfig {
            mode: TemplateMode::Off,
            ..TemplateConfig::default()
        },
        sandbox,
        ..EngineConfig::default()
    })
    .expect("engine")
}

fn wasm_engine() -> Engine {
    engine_on(Sandbox::Wasm, 20_000, 128)
}

async fn run_js(engine: &Engine, plan: Value) -> Vec<EngineEvent> {
    events_within(run(engine, plan), 90).await
}

/// `(name, job id, fuel)` of the step events, in order.
fn steps(events: &[EngineEvent]) -> Vec<(&'static str, String, Option<u64>)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::JobStart { job_id, .. } => Some(("job-start", job_id.clone(), None)),
            EngineEvent::JobComplete { job_id, fuel, .. } => {
                Some(("job-complete", job_id.clone(), *fuel))
            }
            EngineEvent::JobError { job_id, fuel, .. } => {
                Some(("job-error", job_id.clone(), *fuel))
            }
            _ => None,
        })
        .collect()
}

fn pid_of(events: &[EngineEvent]) -> Option<u32> {
    events.iter().find_map(thread_of)
}

#[tokio::test]
async fn events_stream_in_order_with_each_steps_fuel() {
    let engine = wasm_engine();
    let plan = js_plan(
        "ok",
        &[
            "fn(s => { console.log('hi'); s.data.x = 1; return s; })",
            "fn(s => { let n = 0; for (let i = 0; i < 200000; i++) n += i; s.data.y = n; return s; })",
        ],
    );
    let events = run_js(&engine, plan.clone()).await;
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "x": 1, "y": 19999900000_u64 } })),
        "{:?}",
        workflow_error(&events)
    );
    let n: Vec<&str> = names(&events)
        .into_iter()
        .filter(|n| !n.starts_with("autoinstall") && *n != "workflow-log")
        .collect();
    assert_eq!(
        n,
        [
            "workflow-start",
            "compile-start",
            "compile-complete",
            "job-start",
            "job-complete",
            "job-start",
            "job-complete",
            "workflow-complete"
        ]
    );
    let s = steps(&events);
    let fuel: Vec<u64> = s.iter().filter_map(|(_, _, f)| *f).collect();
    assert_eq!(fuel.len(), 2, "{s:?}");
    // the loop of the second step costs more than the first step's assignment
    assert!(fuel[0] > 0 && fuel[1] > fuel[0], "{fuel:?}");
    assert!(
        logs(&events)
            .iter()
            .any(|(name, msg)| name == "JOB" && msg == r#"["hi"]"#),
        "{:?}",
        logs(&events)
    );

    // the native tier: same states and steps, no fuel; the same runtime lines
    let native = run_js(&engine_on(Sandbox::Native, 20_000, 128), plan).await;
    assert_eq!(final_state(&native), final_state(&events));
    let native_steps = steps(&native);
    assert!(native_steps.iter().all(|(_, _, f)| f.is_none()));
    let strip = |s: Vec<(&'static str, String, Option<u64>)>| -> Vec<(&str, String)> {
        s.into_iter().map(|(n, id, _)| (n, id)).collect()
    };
    assert_eq!(strip(native_steps), strip(s));
    let lines = |events: &[EngineEvent]| -> Vec<(String, String)> {
        logs(events)
            .into_iter()
            // timings differ, and the guest does not measure a step's memory (known)
            .filter(|(_, m)| {
                !m.contains(" in ") && !m.contains("ms") && !m.contains("Step memory usage")
            })
            .collect()
    };
    assert_eq!(lines(&native), lines(&events));
}

#[tokio::test]
async fn credentials_and_dataclips_come_through_the_supervisor() {
    let engine = wasm_engine();
    let mut resolvers = MapResolvers::default();
    resolvers
        .states
        .insert("clip".into(), Ok(r#"{"data":{"from":"clip"}}"#.into()));
    resolvers
        .credentials
        .insert("c1".into(), Ok(r#"{"user":"u"}"#.into()));
    let mut plan = js_plan(
        "cred",
        &["fn(s => { s.data.user = s.configuration.user; return s; })"],
    );
    plan["workflow"]["steps"][0]["configuration"] = json!("c1");
    plan["workflow"]["steps"][0]["state"] = json!("clip");
    let handle = engine.execute(
        xp(plan),
        Input::Empty,
        RunOptions::default(),
        Arc::new(resolvers),
    );
    let events = events_within(handle, 90).await;
    assert_eq!(
        final_state(&events),
        Some(json!({ "data": { "from": "clip", "user": "u" } })),
        "{:?}",
        workflow_error(&events)
    );
}

#[tokio::test]
async fn a_thrown_error_fails_the_step_as_on_the_native_tier() {
    let plan = js_plan(
        "throw",
        &["fn(s => { throw new Error('boom'); })", "fn(s => s)"],
    );
    let wasm = run_js(&wasm_engine(), plan.clone()).await;
    let native = run_js(&engine_on(Sandbox::Native, 20_000, 128), plan).await;
    let job_error = |events: &[EngineEvent]| {
        events.iter().find_map(|e| match e {
            EngineEvent::JobError {
                job_id,
                error,
                state,
                ..
            } => Some((
                job_id.clone(),
                error.clone(),
                serde_json::from_str::<Value>(state.get()).ok(),
            )),
            _ => None,
        })
    };
    let w = job_error(&wasm).expect("a job error on the wasm tier");
    let n = job_error(&native).expect("a job error on the native tier");
    assert_eq!(
        (w.0.as_str(), error_tuple(&w.1)),
        (n.0.as_str(), error_tuple(&n.1))
    );
    assert_eq!(w.2, n.2, "the failed step's state");
    assert_eq!(workflow_error(&wasm), workflow_error(&native));
    assert_eq!(final_state(&wasm), final_state(&native));
}

#[tokio::test]
async fn an_infinite_loop_times_out_and_the_next_run_still_runs() {
    let engine = engine_on(Sandbox::Wasm, 1500, 128);
    let events = run_js(
        &engine,
        js_plan("forever", &["fn(s => { while (true) {} })"]),
    )
    .await;
    let error = workflow_error(&events).expect("a workflow error");
    assert_eq!(
        error_tuple(error),
        (
            "TimeoutError",
            "Workflow failed to return within 1500ms",
            "kill"
        )
    );
    // the guest's runtime stops the loop at its own deadline (just after the supervisor's),
    // else the supervisor kills the child after the grace period: either way the next run runs
    let next = run_js(
        &engine,
        js_plan("after", &["fn(s => ({ data: { ok: true } }))"]),
    )
    .await;
    assert_eq!(final_state(&next), Some(json!({ "data": { "ok": true } })));
}

#[tokio::test]
async fn a_memory_hog_is_an_oom_error_and_the_child_is_replaced() {
    let engine = engine_on(Sandbox::Wasm, 30_000, 64);
    let hog = "fn(s => { const a = []; while (true) a.push(new Array(100000).fill(1)); })";
    let events = run_js(&engine, js_plan("hog", &[hog])).await;
    let error = workflow_error(&events).expect("a workflow error");
    assert_eq!(
        (error.error_type.as_str(), error.severity.as_str()),
        ("OOMError", "kill"),
        "{error:?}"
    );
    let first = pid_of(&events);
    let next = run_js(
        &engine,
        js_plan("after", &["fn(s => ({ data: { ok: 1 } }))"]),
    )
    .await;
    assert_eq!(final_state(&next), Some(json!({ "data": { "ok": 1 } })));
    assert_ne!(pid_of(&next), first, "the child was recycled after the OOM");
}

#[tokio::test]
async fn a_child_serves_runs_one_after_another() {
    let engine = wasm_engine();
    let a = run_js(&engine, js_plan("a", &["fn(s => ({ data: { n: 1 } }))"])).await;
    let b = run_js(&engine, js_plan("b", &["fn(s => ({ data: { n: 2 } }))"])).await;
    assert_eq!(final_state(&a), Some(json!({ "data": { "n": 1 } })));
    assert_eq!(final_state(&b), Some(json!({ "data": { "n": 2 } })));
    assert!(pid_of(&a).is_some());
    assert_eq!(pid_of(&a), pid_of(&b), "the child was reused");
    assert_eq!(engine.live_children(), 1);
}

/// Lines are streamed as the guest sends them: a step that logs and then never returns has its
/// line delivered before the timeout ends the run (collected at the end, it would be lost).
#[tokio::test]
async fn log_lines_arrive_while_the_step_still_runs() {
    let engine = engine_on(Sandbox::Wasm, 1500, 128);
    let plan = js_plan(
        "stream",
        &["fn(s => { console.log('before the loop'); while (true) {} })"],
    );
    let mut handle = run(&engine, plan);
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), handle.next())
            .await
            .expect("an event within 30 s");
        let Some(event) = event else { break };
        seen.push(event);
    }
    let line = seen.iter().position(|e| {
        matches!(e, EngineEvent::WorkflowLog { log, .. }
            if log.name == "JOB" && log.message.get() == r#"["before the loop"]"#)
    });
    let timeout = seen.iter().position(|e| {
        matches!(e, EngineEvent::WorkflowError { error, .. } if error.error_type == "TimeoutError")
    });
    assert!(
        matches!((line, timeout), (Some(l), Some(t)) if l < t),
        "{:?}",
        names(&seen)
    );
}
