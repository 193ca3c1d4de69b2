//! Basic end-to-end runs: a single step through the fixture adaptor, events and log lines.

mod common;

use common::*;
use serde_json::json;

#[test]
fn single_step_runs_through_adaptor_execute() {
    let p = single(&job("fn", "fn(s => ({ ...s, data: { x: 1 } }))"));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out, json!({ "data": { "x": 1 } }));
}

#[test]
fn events_and_logs_of_a_step() {
    let p = single(&job("fn", "fn(s => { console.log('hola'); return s; })"));
    let (r, rec) = exec(&p, state(json!({})), options());
    r.expect("ok");
    assert_eq!(
        rec.event_names(),
        vec!["init-start", "init-complete", "job-start", "job-complete"]
    );
    assert!(
        rec.has_log("R/T Starting step job1"),
        "{:?}",
        rec.log_texts()
    );
    assert!(
        rec.log_texts()
            .iter()
            .any(|l| l.starts_with("R/T job1 completed in ") && l.ends_with("ms"))
    );
    let job_line = rec
        .logs
        .borrow()
        .iter()
        .find(|l| l.name == "JOB")
        .cloned()
        .expect("job log");
    assert_eq!(job_line.message, vec![json!("hola")]);
    let j: serde_json::Value = serde_json::from_str(&job_line.to_json_string()).expect("json");
    assert_eq!(j["level"], "info");
    assert_eq!(j["name"], "JOB");
    assert_eq!(j["time"].as_str().map(str::len), Some(19));
}

#[test]
fn expression_plan_uses_job_1_and_logs_the_workflow() {
    let p = openfn_runtime::plan_from_expression(
        &job("fn", "fn(() => { throw new Error('x'); })"),
        None,
        None,
    );
    let (r, rec) = exec(&p, state(json!({})), options());
    let out = r.expect("ok").expect("state");
    assert_eq!(out["errors"]["job-1"]["message"], "x");
    assert!(
        // as the kit: `workflow.name || plan.id`, and an expression's plan has neither
        rec.has_log("R/T Executing undefined"),
        "{:?}",
        rec.log_texts()
    );
    let p = openfn_runtime::plan_from_expression(&job("fn", "fn(s => s)"), None, Some("main"));
    let (r, rec) = exec(&p, state(json!({})), options());
    assert!(r.is_ok());
    assert!(rec.has_log("R/T Starting step main"));
}

#[test]
fn validation_failure_is_logged() {
    let p = plan(
        json!({ "workflow": { "steps": [{ "id": "a", "expression": "export default [];", "next": "b" }] } }),
    );
    let (r, rec) = exec(&p, state(json!({})), options());
    assert!(r.is_err());
    assert!(rec.has_log("R/T Error validating execution plan"));
    assert!(rec.has_log("Cannot find job: b"));
    assert!(rec.has_log("R/T Aborting"));
}

#[test]
fn debug_lines_follow_the_kit_runtime() {
    let p = plan(json!({
        "workflow": { "steps": [
            { "id": "a", "expression": job("fn", "fn(s => s)"), "configuration": { "k": 1 } }
        ] },
        "options": { "timeout": 1234 }
    }));
    let (r, rec) = exec(&p, state(json!({ "data": {} })), options());
    r.expect("ok");
    let texts = rec.log_texts();
    let expected = [
        "R/T Starting execution from step a",
        "R/T Starting step a",
        "R/T [linker] loading module ",
        "R/T Executing expression (1 operations)",
        "R/T Timeout set to 1234ms",
        "R/T Starting operation 1",
        "R/T a completed in ",
        "R/T Cleaning up state. Removing keys: configuration",
    ];
    let mut from = 0;
    for line in expected {
        let at = texts[from..]
            .iter()
            .position(|t| t.starts_with(line))
            .unwrap_or_else(|| panic!("`{line}` missing or out of order: {texts:#?}"));
        from += at + 1;
    }
}

#[test]
fn console_arguments_as_the_text_or_the_json_logger_shows_them() {
    let code = "fn(s => { console.log(undefined, new Date(0), new Error('x'), new TypeError('t')); return s; })";
    let run = |text: bool| {
        let mut o = options();
        o.console_text = text;
        let (r, rec) = exec(&single(&job("fn", code)), state(json!({})), o);
        r.expect("ok");
        let line = rec
            .logs
            .borrow()
            .iter()
            .find(|l| l.name == "JOB")
            .cloned()
            .expect("job log");
        line.message
    };
    // the kit's JSON logger: values, an `Error` as {name, message}, any other error as its
    // own enumerable properties (tests/parity/worker/log-error-object)
    assert_eq!(
        run(false),
        vec![
            json!(null),
            json!("1970-01-01T00:00:00.000Z"),
            json!({ "name": "Error", "message": "x" }),
            json!({})
        ]
    );
    // the kit's text logger (the CLI): `undefined`, quoted JSON, the stack, `{}`
    let text = run(true);
    assert_eq!(text[0], json!("undefined"));
    assert_eq!(text[1], json!("\"1970-01-01T00:00:00.000Z\""));
    let stack = text[2].as_str().expect("a stack");
    assert!(
        stack.starts_with("Error: x\n    at vm:module(0):"),
        "{stack}"
    );
    assert_eq!(text[3], json!({}));
}
