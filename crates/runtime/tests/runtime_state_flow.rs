//! State between steps: each step's recorded state is its own (a later step's mutations never
//! reach it), and big or deeply nested states cross several steps byte for byte.

mod common;

use std::rc::Rc;

use common::*;
use openfn_runtime::{Event, Input, StateJson, run};
use serde_json::{Value, json};

/// The `job-complete` state of each step, in order, as text.
fn completed_states(rec: &Recorder) -> Vec<(String, String)> {
    rec.events
        .borrow()
        .iter()
        .filter_map(|e| match e {
            Event::JobComplete { job_id, state, .. } => Some((
                job_id.clone(),
                state
                    .as_ref()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_step_mutating_nested_input_leaves_the_previous_steps_state_alone() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "next": "b", "expression": job("fn",
            "fn(s => { s.data.nested = { list: [{ x: 1 }], deep: { y: 'a' } }; return s; })") },
        { "id": "b", "next": "c", "expression": job("fn",
            "fn(s => { s.data.nested.list[0].x = 2; s.data.nested.deep.y = 'b'; s.data.nested.list.push(3); return s; })") },
        { "id": "c", "expression": job("fn",
            "fn(s => { s.data.nested.deep.y = 'c'; delete s.data.nested.list; return s; })") }
    ] } }));
    let (r, rec) = exec(&p, state(json!({ "data": {} })), options());
    assert_eq!(
        r.expect("run ok"),
        Some(json!({ "data": { "nested": { "deep": { "y": "c" } } } }))
    );
    let states = completed_states(&rec);
    let ids: Vec<&str> = states.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let parsed: Vec<Value> = states
        .iter()
        .map(|(_, s)| serde_json::from_str(s).expect("state json"))
        .collect();
    assert_eq!(
        parsed[0],
        json!({ "data": { "nested": { "list": [{ "x": 1 }], "deep": { "y": "a" } } } })
    );
    assert_eq!(
        parsed[1],
        json!({ "data": { "nested": { "list": [{ "x": 2 }, 3], "deep": { "y": "b" } } } })
    );
}

#[test]
fn siblings_mutating_the_same_input_do_not_see_each_other() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "next": { "b": true, "c": true }, "expression": job("fn",
            "fn(s => { s.data.shared = { n: 0 }; return s; })") },
        { "id": "b", "expression": job("fn", "fn(s => { s.data.shared.n += 1; s.data.b = true; return s; })") },
        { "id": "c", "expression": job("fn", "fn(s => { s.data.shared.n += 10; return s; })") }
    ] } }));
    let (r, rec) = exec(&p, state(json!({ "data": {} })), options());
    assert_eq!(
        r.expect("run ok"),
        Some(json!({
            "b": { "data": { "shared": { "n": 1 }, "b": true } },
            "c": { "data": { "shared": { "n": 10 } } }
        }))
    );
    assert_eq!(
        completed_states(&rec)[0].1,
        r#"{"data":{"shared":{"n":0}}}"#
    );
}

/// Runs `plan` on `input` text (on a thread with a big stack, as the engine's run thread) and
/// returns the final state's text and the states the steps completed with.
fn run_text(
    plan: openfn_runtime::ExecutionPlan,
    input: String,
) -> (Option<String>, Vec<(String, String)>) {
    std::thread::Builder::new()
        .stack_size(256 * 1024 * 1024)
        .spawn(move || {
            let rec = Rc::new(Recorder::default());
            let mut o = options();
            o.max_stack_size = 64 * 1024 * 1024;
            o.state_limit_mb = 1000.0;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio");
            let input = Input::State(StateJson::from_text(input));
            let outcome = rt
                .block_on(run(&plan, input, o, rec.clone()))
                .expect("run ok");
            let out = outcome.state.map(|s| s.as_str().to_owned());
            (out, completed_states(&rec))
        })
        .expect("thread")
        .join()
        .expect("run thread")
}

fn identity_steps(n: usize) -> openfn_runtime::ExecutionPlan {
    let steps: Vec<Value> = (0..n)
        .map(|i| {
            let mut step = json!({ "id": format!("s{i}"), "expression": job("fn", "fn(s => s)") });
            if i + 1 < n {
                step["next"] = json!(format!("s{}", i + 1));
            }
            step
        })
        .collect();
    plan(json!({ "workflow": { "steps": steps } }))
}

#[test]
fn a_10_mb_state_crosses_three_steps_byte_for_byte() {
    // Records as JavaScript prints them (integers, short decimals, escapes, non-ASCII text).
    let records: Vec<Value> = (0..66_000)
        .map(|i| {
            json!({
                "id": i,
                "name": format!("patient-{i} \u{e9}\u{4e2d} \"q\" \\ \n"),
                "tags": ["a", "b", i % 7],
                "score": i as f64 + 0.25,
                "visit": { "date": "2024-01-01T00:00:00Z", "ok": i % 2 == 0, "notes": null }
            })
        })
        .collect();
    let input = json!({ "data": { "records": records }, "references": [1, "two"] }).to_string();
    assert!(input.len() >= 10_000_000, "{} bytes", input.len());
    let (out, states) = run_text(identity_steps(3), input.clone());
    assert_eq!(states.len(), 3);
    for (id, state) in &states {
        assert!(*state == input, "step {id} changed the state");
    }
    assert!(
        out.as_deref() == Some(input.as_str()),
        "the final state differs"
    );
}

#[test]
fn a_state_10000_levels_deep_crosses_steps_byte_for_byte() {
    let depth = 10_000;
    // `{"a":[{"a":[ … {"leaf":[1,"x"]} … ]}]}`: objects and arrays in turn
    let (mut open, mut close) = (String::new(), String::new());
    for i in 0..depth {
        if i % 2 == 0 {
            open.push_str(r#"{"a":"#);
            close.push('}');
        } else {
            open.push('[');
            close.push(']');
        }
    }
    let close: String = close.chars().rev().collect();
    let nested = format!(r#"{open}{{"leaf":[1,"x"]}}{close}"#);
    let input = format!(r#"{{"data":{nested},"other":"kept"}}"#);
    let (out, states) = run_text(identity_steps(2), input.clone());
    assert_eq!(states.len(), 2);
    for (id, state) in &states {
        assert!(*state == input, "step {id} changed the deep state");
    }
    assert!(
        out.as_deref() == Some(input.as_str()),
        "the final state differs"
    );
}
