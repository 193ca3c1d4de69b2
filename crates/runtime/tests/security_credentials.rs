//! Credentials: a job sees its own step's configuration and nothing else. It leaves the state
//! after the step (`configuration` is removed from every output), and a job that stashes it in
//! the adaptor realm (its global object, `Object.prototype`) cannot hand it to the next run.
//! Errors that carry a credential keep it in `state.errors` here: the worker redacts the
//! states it sends (see the ws-worker's `redact.rs` and its `e2e_redaction` test).

mod common;
mod node;
mod security;

use openfn_runtime::ExecutionPlan;
use security::{Sandbox, job};
use serde_json::json;

const SECRET: &str = "hunter2-secret";

#[test]
fn configuration_leaves_the_state_after_the_step() {
    let sb = Sandbox::new();
    let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
        {"id": "a", "configuration": {"password": SECRET}, "next": "b",
         "expression": job("fn", "", "fn((s) => ({ ...s, sawA: s.configuration.password === 'hunter2-secret' }))")},
        {"id": "b",
         "expression": job("fn", "", "fn((s) => ({ ...s, sawB: JSON.stringify(s).includes('hunter2') }))")},
    ]}}))
    .expect("plan");
    let out = sb.run_plan(&plan, json!({}), sb.options());
    assert_eq!(out["sawA"], true, "{out}");
    assert_eq!(out["sawB"], false, "{out}");
    assert!(!out.to_string().contains(SECRET), "{out}");
}

#[test]
fn credentials_stashed_in_the_adaptor_realm_do_not_reach_the_next_run() {
    let sb = Sandbox::new();
    let mut options = sb.options();
    options.state_props_to_remove = Some(vec!["configuration".into()]);
    let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
        {"id": "a", "configuration": {"password": SECRET},
         "expression": job("fn, _", "", "fn((s) => { const g = _.noConflict.call(undefined); g.stash = s.configuration; Object.getPrototypeOf(Object.getPrototypeOf(fn)).stash = s.configuration.password; return s; })")},
    ]}}))
    .expect("plan");
    let out = sb.run_plan(&plan, json!({}), options);
    assert!(!out.to_string().contains(SECRET), "{out}");
    let next = sb.run(
        &job(
            "fn, _",
            "import { probe } from '@openfn/hostile-fixture';",
            "fn((s) => ({ ...s, found: [typeof _.noConflict.call(undefined).stash, probe('stash') ?? null] }))",
        ),
        json!({}),
    );
    assert_eq!(next["found"], json!(["undefined", null]), "{next}");
    sb.assert_next_run_unaffected();
}

/// Pins the runtime's side of item 4: an error that carries the credential keeps it in
/// `state.errors.<step>.message`; redaction is the worker's, on the way out.
#[test]
fn errors_carrying_a_credential_keep_it_until_the_worker_redacts() {
    let sb = Sandbox::new();
    let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
        {"id": "job", "configuration": {"password": SECRET},
         "expression": job("fn", "", "fn((s) => { throw new Error('login failed: ' + s.configuration.password); })")},
    ]}}))
    .expect("plan");
    let out = sb.run_plan(&plan, json!({}), sb.options());
    assert_eq!(
        out["errors"]["job"]["message"],
        format!("login failed: {SECRET}"),
        "{out}"
    );
    assert!(out.get("configuration").is_none(), "{out}");
    sb.assert_next_run_unaffected();
}
