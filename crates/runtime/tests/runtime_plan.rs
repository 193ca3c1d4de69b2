//! Plan semantics: validation, start/end, triggers, branching, repeated steps, leaves, edges,
//! state assembly and cloning between steps.

mod common;

use common::*;
use openfn_runtime::{Event, Input, RunError};
use serde_json::{Value, json};

fn inc(id: &str, next: Value) -> Value {
    json!({
        "id": id,
        "expression": job("fn", &format!("fn(s => {{ s.data.count = (s.data.count || 0) + 1; s.data['{id}'] = true; return s; }})")),
        "next": next,
    })
}

#[test]
fn validation_start_not_found() {
    let p = plan(
        json!({ "workflow": { "steps": [inc("a", json!(null))] }, "options": { "start": "nope" } }),
    );
    let e = aborted(&p, Input::Empty);
    assert_eq!(e.name, "ValidationError");
    assert_eq!(e.message, "Could not find start job: nope");
}

#[test]
fn validation_missing_next() {
    let p = plan(json!({ "workflow": { "steps": [inc("a", json!("b"))] } }));
    let e = aborted(&p, Input::Empty);
    assert_eq!(e.message, "Cannot find job: b");
}

#[test]
fn validation_circular() {
    let p = plan(json!({ "workflow": { "steps": [inc("a", json!("b")), inc("b", json!("a"))] } }));
    let e = aborted(&p, Input::Empty);
    assert_eq!(e.name, "ValidationError");
    assert_eq!(e.message, "Circular dependency: b <-> a");
}

#[test]
fn branching_siblings_are_isolated() {
    let p = plan(json!({ "workflow": { "steps": [
        inc("start", json!({ "b": true, "c": true })), inc("b", json!(null)), inc("c", json!(null))
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(
        out,
        json!({
            "b": { "data": { "count": 2, "start": true, "b": true } },
            "c": { "data": { "count": 2, "start": true, "c": true } }
        })
    );
}

#[test]
fn diamond_gives_repeated_leaf_ids() {
    let p = plan(json!({ "workflow": { "steps": [
        inc("a", json!({ "b": true, "c": true })), inc("b", json!("z")), inc("c", json!("z")), inc("z", json!(null))
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    let obj = out.as_object().expect("object");
    assert_eq!(obj.keys().cloned().collect::<Vec<_>>(), vec!["z", "z-1"]);
    assert_eq!(out["z"]["data"]["count"], 3);
    assert_eq!(out["z"]["data"]["b"], true);
    assert_eq!(out["z-1"]["data"]["c"], true);
}

#[test]
fn a_step_whose_edges_are_not_taken_is_a_leaf() {
    // as the kit: the leaves are the steps after which nothing ran, edges or not
    let p = plan(json!({ "workflow": { "steps": [
        inc("a", json!({ "b": { "condition": "false" }, "c": true })),
        inc("b", json!(null)),
        inc("c", json!({ "d": { "condition": "state.data.count > 5" } })),
        inc("d", json!(null))
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out, json!({ "data": { "count": 2, "a": true, "c": true } }));

    let p = plan(json!({ "workflow": { "steps": [
        inc("a", json!({ "b": { "condition": "false" } })), inc("b", json!(null))
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out, json!({ "data": { "count": 1, "a": true } }));
}

#[test]
fn end_option_stops_the_run() {
    let p = plan(json!({
        "workflow": { "steps": [inc("a", json!("b")), inc("b", json!("c")), inc("c", json!(null))] },
        "options": { "end": "b" }
    }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out, json!({ "data": { "count": 2, "a": true, "b": true } }));
}

#[test]
fn start_option_and_trigger_steps() {
    let p = plan(json!({
        "workflow": { "steps": [{ "id": "t", "next": { "a": true } }, inc("a", json!("b")), inc("b", json!(null))] },
        "options": { "start": "b" }
    }));
    assert_eq!(
        ok(&p, state(json!({ "data": {} }))),
        json!({ "data": { "count": 1, "b": true } })
    );
    let p2 = plan(
        json!({ "workflow": { "steps": [{ "id": "t", "next": { "a": true } }, inc("a", json!(null))] } }),
    );
    let (r, rec) = exec(&p2, state(json!({ "data": { "x": 1 } })), options());
    assert_eq!(
        r.expect("ok"),
        Some(json!({ "data": { "x": 1, "count": 1, "a": true } }))
    );
    assert!(
        !rec.events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::InitStart { job_id } if job_id == "t"))
    );
}

#[test]
fn edges_conditions() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => ({ data: { x: 5 } }))"), "next": {
            "yes": "state.data.x > 1", "no": "state.data.x > 10", "off": { "condition": "true", "disabled": true },
            "nocond": { "label": "x" }, "f": false, "num": "1 + 1", "ok": { "condition": "on_job_success" },
            "bad": "on_job_failure", "alw": { "condition": "always" }
        } },
        inc("yes", json!(null)), inc("no", json!(null)), inc("off", json!(null)), inc("nocond", json!(null)),
        inc("f", json!(null)), inc("num", json!(null)), inc("ok", json!(null)), inc("bad", json!(null)), inc("alw", json!(null))
    ] } }));
    let out = ok(&p, Input::Empty);
    let mut keys: Vec<String> = out.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["alw", "num", "ok", "yes"]);
}

#[test]
fn failure_edges_follow_errors() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => { throw new Error('boom'); })"), "next": {
            "ok": { "condition": "on_job_success" }, "bad": { "condition": "on_job_failure" }, "plain": true
        } },
        inc("ok", json!(null)), inc("bad", json!(null)), inc("plain", json!(null))
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    let mut keys: Vec<String> = out.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["bad", "plain"]);
    assert_eq!(out["bad"]["errors"]["a"]["message"], "boom");
}

#[test]
fn edge_condition_error_aborts() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": { "b": "wibble.x" } }, inc("b", json!(null))
    ] } }));
    let e = aborted(&p, state(json!({ "data": {} })));
    assert_eq!(e.name, "EdgeConditionError");
    assert_eq!(e.message, "wibble is not defined");
    // in V8's words, as the kit reports it
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": { "b": "state.data.missing.deeper" } }, inc("b", json!(null))
    ] } }));
    let e = aborted(&p, state(json!({ "data": {} })));
    assert_eq!(e.name, "EdgeConditionError");
    assert_eq!(
        e.message,
        "Cannot read properties of undefined (reading 'deeper')"
    );
}

#[test]
fn edge_condition_sandbox_has_no_eval_or_process() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": { "b": "eval('1')" } }, inc("b", json!(null))
    ] } }));
    let e = aborted(&p, state(json!({ "data": {} })));
    assert_eq!(
        e.message,
        "Code generation from strings disallowed for this context"
    );
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": { "b": "process.pid" } }, inc("b", json!(null))
    ] } }));
    assert_eq!(
        aborted(&p, state(json!({ "data": {} }))).message,
        "process is not defined"
    );
}

#[test]
fn edge_condition_compile_error() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": { "b": "!!!" } }, inc("b", json!(null))
    ] } }));
    let e = aborted(&p, Input::Empty);
    assert!(
        e.message
            .starts_with("Failed to compile edge condition a->b ("),
        "{}",
        e.message
    );
}

#[test]
fn configuration_is_assembled_and_stripped() {
    let p = plan(json!({ "workflow": {
        "credentials": { "token": "global", "a": 1 },
        "steps": [
            { "id": "a", "configuration": { "token": "step" }, "expression": job("fn", "fn(s => ({ ...s, data: { seen: s.configuration } }))"), "next": "b" },
            { "id": "b", "configuration": "cred-b", "expression": job("fn", "fn(s => ({ ...s, data: { ...s.data, seenB: s.configuration } }))") }
        ]
    } }));
    let rec = Recorder::default();
    rec.credentials
        .borrow_mut()
        .insert("cred-b".into(), json!({ "user": "b" }));
    let (r, rec) = exec_with(
        &p,
        state(json!({ "configuration": { "a": 2, "b": 3 } })),
        options(),
        rec,
    );
    let out = r.expect("ok").expect("state");
    assert_eq!(
        out["data"]["seen"],
        json!({ "token": "step", "a": 2, "b": 3 })
    );
    assert_eq!(
        out["data"]["seenB"],
        json!({ "token": "global", "a": 1, "user": "b" })
    );
    assert!(out.get("configuration").is_none());
    for e in rec.events.borrow().iter() {
        if let Event::JobComplete { state: Some(s), .. } = e {
            assert!(!s.as_str().contains("\"configuration\""));
        }
    }
}

#[test]
fn default_state_has_lower_priority_than_input() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "state": { "data": { "x": 1, "y": 1 }, "extra": true }, "expression": job("fn", "fn(s => s)") }
    ] } }));
    let out = ok(&p, state(json!({ "data": { "y": 2 } })));
    assert_eq!(out, json!({ "data": { "x": 1, "y": 2 }, "extra": true }));
    let out = ok(&p, state(json!({ "data": [1, 2] })));
    assert_eq!(out["data"], json!([1, 2]));
}

#[test]
fn dataclip_state_and_input_resolution() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "state": "clip-default", "expression": job("fn", "fn(s => s)") }
    ] } }));
    let rec = Recorder::default();
    rec.dataclips
        .borrow_mut()
        .insert("clip-default".into(), json!({ "data": { "d": 1 } }));
    rec.dataclips
        .borrow_mut()
        .insert("clip-in".into(), json!({ "data": { "i": 1 } }));
    let (r, rec) = exec_with(&p, Input::DataclipId("clip-in".into()), options(), rec);
    assert_eq!(r.expect("ok"), Some(json!({ "data": { "d": 1, "i": 1 } })));
    assert_eq!(rec.event_names()[0], "load-state");
}

#[test]
fn cloning_marks_circular_and_drops_functions() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => { s.data.self = s.data; s.data.f = () => 1; s.data.shared = [1]; s.data.again = s.data.shared; return s; })"), "next": "b" },
        { "id": "b", "expression": job("fn", "fn(s => { s.data.hasF = typeof s.data.f; return s; })") }
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out["data"]["self"], "[Circular]");
    assert_eq!(out["data"]["hasF"], "undefined");
    assert_eq!(out["data"]["again"], json!([1]));
}

#[test]
fn step_without_state_warns_and_feeds_empty() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => { s.x = 1; return s; }), fn(() => undefined), fn(s => s)"), "next": "b" },
        { "id": "b", "expression": job("fn", "fn(s => ({ got: s }))") }
    ] } }));
    let (r, rec) = exec(&p, state(json!({})), options());
    assert_eq!(
        r.expect("ok"),
        Some(json!({ "got": { "configuration": {}, "data": {} } }))
    );
    assert!(rec.has_log(
        "WARNING: No state was passed into operation 3. Did the previous operation return state?"
    ));
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(() => null)"), "next": "b" },
        { "id": "b", "expression": job("fn", "fn(s => s)") }
    ] } }));
    let (r, rec) = exec(&p, state(json!({})), options());
    assert!(r.is_ok());
    assert!(rec.has_log(
        "WARNING: step a did not return a state object. This may cause downstream jobs to fail."
    ));
}

#[test]
fn job_complete_event_payload() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => s)"), "next": "b" }, inc("b", json!(null))
    ] } }));
    let mut o = options();
    o.measure_memory = true;
    o.profile = true;
    let (r, rec) = exec(&p, state(json!({ "data": {} })), o);
    assert!(r.is_ok());
    let events = rec.events.borrow();
    let complete = events
        .iter()
        .find(|e| e.name() == "job-complete")
        .expect("complete");
    let payload = complete.payload();
    assert_eq!(payload["jobId"], "a");
    assert_eq!(payload["next"], json!(["b"]));
    assert_eq!(payload["state"], json!({ "data": {} }));
    assert!(payload["mem"]["job"].as_u64().is_some_and(|m| m > 0));
    let (system, peak) = (
        payload["mem"]["system"].as_u64(),
        payload["mem"]["peak"].as_u64(),
    );
    assert!(peak >= system && system.is_some(), "{payload}");
}

/// `mem.peak` (when profiling) is the process's peak RSS during the step: reset when each step
/// starts, so a step that briefly holds 96 MB reports it and the next, small step does not.
#[test]
fn job_complete_reports_the_step_peak_rss() {
    let big = "export default [(s) => { let x = 'x'.repeat(96 * 1024 * 1024); s.data.len = x.length; x = null; return s; }];";
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "big", "expression": big, "next": "small" },
        { "id": "small", "expression": "export default [(s) => s];" }
    ] } }));
    let mut o = options();
    o.profile = true;
    let (r, rec) = exec(&p, state(json!({ "data": {} })), o);
    assert!(r.is_ok(), "{r:?}");
    let events = rec.events.borrow();
    let peak_of = |id: &str| {
        events
            .iter()
            .map(|e| e.payload())
            .find(|p| p["jobId"] == id && p["mem"].is_object())
            .and_then(|p| p["mem"]["peak"].as_u64())
            .expect("peak")
    };
    let (big, small) = (peak_of("big"), peak_of("small"));
    assert!(big >= 96 * 1024 * 1024, "big step peak {big}");
    assert!(small + 48 * 1024 * 1024 < big, "small {small} vs big {big}");
    drop(events);

    // not profiling: no peak
    let mut o = options();
    o.measure_memory = true;
    let (r, rec) = exec(&p, state(json!({ "data": {} })), o);
    assert!(r.is_ok(), "{r:?}");
    let events = rec.events.borrow();
    let mems: Vec<Value> = events
        .iter()
        .map(|e| e.payload())
        .filter(|p| p["mem"].is_object())
        .map(|p| p["mem"].clone())
        .collect();
    assert_eq!(mems.len(), 2);
    assert!(mems.iter().all(|m| m.get("peak").is_none()), "{mems:?}");
}

#[test]
fn run_error_display() {
    let p = plan(json!({ "workflow": { "steps": [inc("a", json!("zz"))] } }));
    let (r, _) = exec(&p, Input::Empty, options());
    match r {
        Err(RunError::Aborted(e)) => {
            assert_eq!(e.to_string(), "ValidationError: Cannot find job: zz")
        }
        other => panic!("{other:?}"),
    }
}
