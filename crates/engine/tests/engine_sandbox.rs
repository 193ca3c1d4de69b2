//! Hostile jobs through the engine, in real children: code generation through adaptor
//! objects is a SecurityError that kills the run, the adaptor realm's `Object.prototype`
//! cannot be polluted, and what a run leaves in its adaptor realm (a credential stashed on an
//! adaptor function) reaches no later run on the same engine.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use openfn_engine::{ChildCommand, Engine, EngineConfig, EngineEvent};
use serde_json::{Value, json};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

fn one_child() -> Engine {
    Engine::new(EngineConfig {
        capacity: 1,
        repo_dir: repo(),
        memory_limit_mb: 64,
        run_timeout_ms: 5000,
        kill_grace: Duration::from_millis(500),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .expect("engine")
}

fn one_step(id: &str, expression: &str) -> Value {
    json!({ "id": id, "workflow": { "steps": [{
        "id": "job", "expression": expression,
        "adaptors": ["@openfn/language-common@1.0.0"],
        "configuration": { "password": "hunter2-secret" },
    }] }, "options": {} })
}

async fn run_on(engine: &Engine, plan: Value) -> Vec<EngineEvent> {
    events_within(run(engine, plan), 60).await
}

#[tokio::test]
async fn a_hostile_job_is_killed_and_leaves_nothing_for_the_next_run() {
    let engine = one_child();
    // 1. code generation through an adaptor function's prototype chain
    for (id, code) in [
        ("ctor", "fn.constructor('return 1')()"),
        ("proto", "Object.getPrototypeOf(fn).constructor('return 1')"),
        (
            "async",
            "Object.getPrototypeOf(execute(fn((x) => x))).constructor('return 1')",
        ),
    ] {
        let events = run_on(
            &engine,
            one_step(id, &format!("fn(s => {{ {code}; return s; }})")),
        )
        .await;
        assert_eq!(
            workflow_error(&events).map(error_tuple),
            Some(("SecurityError", "Illegal eval statement detected", "kill")),
            "{code}"
        );
    }
    // 2. a run that tries to pollute its adaptor realm and stashes its credential there
    let proto = "Object.getPrototypeOf(Object.getPrototypeOf(fn))";
    let events = run_on(
        &engine,
        one_step(
            "pollute",
            &format!(
                "fn(s => {{ let refused = null; try {{ {proto}.polluted = 'yes'; }} catch (e) {{ refused = e.message; }}
                    fn.stash = s.configuration.password;
                    s.data = {{ refused, inRun: fn.stash === s.configuration.password }}; return s; }})"
            ),
        ),
    )
    .await;
    let state = final_state(&events).expect("the polluting run completes");
    assert_eq!(
        state["data"],
        json!({"refused": "object is not extensible", "inRun": true})
    );
    assert!(!state.to_string().contains("hunter2"), "{state}");
    // 3. the next run on the same engine sees a fresh adaptor realm
    let events = run_on(
        &engine,
        one_step(
            "next",
            &format!(
                "fn(s => {{ s.data = {{ seen: [typeof {proto}.polluted, typeof fn.stash] }}; return s; }})"
            ),
        ),
    )
    .await;
    let state = final_state(&events).expect("the next run completes");
    assert_eq!(state["data"]["seen"], json!(["undefined", "undefined"]));
}
