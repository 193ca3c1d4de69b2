//! States nested thousands of levels deep go from the child's QuickJS through the supervisor
//! whole (serde_json's 128-level limit turned them into `null`), through two steps, over the
//! payload limit (redacted, not lost), and past what QuickJS can serialise a step fails with a
//! typed error instead of reporting success without its data.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use openfn_engine::{ChildCommand, Engine, EngineConfig, EngineEvent, deep_json};
use serde_json::json;
use support::*;

fn js_engine(payload_limit_mb: f64) -> Engine {
    Engine::new(EngineConfig {
        capacity: 1,
        repo_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo"),
        memory_limit_mb: 500,
        run_timeout_ms: 60_000,
        payload_limit_mb,
        kill_grace: Duration::from_millis(500),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .expect("engine")
}

const DEEP_5000: &str = "export default [(s) => { let o = { leaf: 1 }; \
    for (let i = 0; i < 5000; i++) o = { a: o }; return { data: o, other: 'kept' }; }];";

/// Depth of `{"a": {"a": … {"leaf": 1}}}` under `data`, checked on the text.
fn depth_of_data(state: &str) -> usize {
    let value = deep_json::parse(state).expect("the state is JSON");
    let mut depth = 0;
    let mut at = &value["data"];
    while let Some(next) = at.get("a") {
        depth += 1;
        at = next;
    }
    assert_eq!(at, &json!({"leaf": 1}), "the innermost level is missing");
    deep_json::drop_value(value);
    depth
}

fn final_state(events: &[EngineEvent]) -> String {
    events
        .iter()
        .find_map(|e| match e {
            EngineEvent::WorkflowComplete { state, .. } => Some(state.get().to_owned()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no workflow-complete: {:?}", names(events)))
}

#[tokio::test]
async fn a_state_5000_levels_deep_reaches_the_supervisor_whole() {
    let engine = js_engine(10.0);
    let events = events_within(run(&engine, js_plan("deep", &[DEEP_5000])), 60).await;
    let state = final_state(&events);
    assert_eq!(depth_of_data(&state), 5000);
    let step_state = events
        .iter()
        .find_map(|e| match e {
            EngineEvent::JobComplete { state, .. } => Some(state.get().to_owned()),
            _ => None,
        })
        .expect("job-complete");
    assert_eq!(step_state, state);
    engine.destroy(false);
}

#[tokio::test]
async fn a_deep_state_crosses_steps_and_a_failing_step_keeps_it() {
    let engine = js_engine(10.0);
    let second = "export default [(s) => { s.other = 'seen'; return s; }];";
    let third = "export default [(s) => { throw new Error('boom'); }];";
    let events = events_within(
        run(&engine, js_plan("deep", &[DEEP_5000, second, third])),
        60,
    )
    .await;
    let state = final_state(&events);
    assert_eq!(depth_of_data(&state), 5000);
    let value = deep_json::parse(&state).expect("json");
    assert_eq!(value["other"], "seen");
    assert_eq!(
        value["errors"]["job-3"]["message"],
        "boom",
        "{}",
        &state[state.len() - 300..]
    );
    deep_json::drop_value(value);
    engine.destroy(false);
}

#[tokio::test]
async fn a_deep_state_over_the_payload_limit_is_redacted_not_lost() {
    let engine = js_engine(0.01);
    let events = events_within(run(&engine, js_plan("deep", &[DEEP_5000])), 60).await;
    let state = final_state(&events);
    let value = deep_json::parse(&state).expect("json");
    assert_eq!(value["data"], "[REDACTED]");
    assert_eq!(value["other"], "kept");
    engine.destroy(false);
}

#[tokio::test]
async fn a_state_too_deep_for_quickjs_fails_the_step_with_a_typed_error() {
    let engine = js_engine(10.0);
    let job = "export default [(s) => { let o = {}; \
        for (let i = 0; i < 200000; i++) o = { a: o }; return { data: o }; }];";
    let events = events_within(run(&engine, js_plan("deep", &[job])), 60).await;
    let error = events
        .iter()
        .find_map(|e| match e {
            EngineEvent::JobError { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no job-error: {:?}", names(&events)));
    assert!(
        error.message.contains("Maximum call stack size exceeded"),
        "{error:?}"
    );
    let state = final_state(&events);
    assert!(state.contains("\"errors\""), "{state}");
    engine.destroy(false);
}
