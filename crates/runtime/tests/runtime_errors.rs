//! Error classification (§2.7), messages, positions and the workflow carrying on after fails.

mod common;

use common::*;
use openfn_runtime::{Input, Severity};
use serde_json::{Value, json};

fn step_error(expression: &str) -> Value {
    let out = ok(&single(expression), state(json!({ "data": {} })));
    out["errors"]["job1"].clone()
}

#[test]
fn job_error_from_thrown_error_string_and_object() {
    assert_eq!(
        step_error(&job("fn", "fn(() => { throw new Error('test'); })")),
        json!({ "source": "runtime", "name": "JobError", "severity": "fail", "message": "test" })
    );
    assert_eq!(
        step_error(&job("fn", "fn(() => { throw 'x'; })"))["message"],
        "x"
    );
    assert_eq!(
        step_error(&job("fn", "fn(() => { throw {}; })"))["message"],
        ""
    );
}

#[test]
fn type_error_is_runtime_error_with_v8_message() {
    let e = step_error("export default [(s) => s.x.y];");
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(e["severity"], "fail");
    assert_eq!(e["subtype"], "TypeError");
    assert_eq!(
        e["message"],
        "TypeError: Cannot read properties of undefined (reading 'y')"
    );
    assert_eq!(e["pos"]["line"], 1);
}

#[test]
fn range_error_is_runtime_error() {
    let e = step_error("export default [(s) => { (1).toFixed(-1); return s; }];");
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(
        e["message"],
        "RangeError: toFixed() digits argument must be between 0 and 100"
    );
}

#[test]
fn reference_error_crashes_the_run() {
    let e = aborted(&single("export default [(s) => z];"), Input::Empty);
    assert_eq!(e.name, "RuntimeCrash");
    assert_eq!(e.severity, Severity::Crash);
    assert_eq!(e.subtype.as_deref(), Some("ReferenceError"));
    assert_eq!(e.message, "ReferenceError: z is not defined");
    let pos = e.pos.expect("pos");
    assert_eq!(pos.line, 1);
    let stack = e.stack.expect("stack");
    assert!(
        stack.starts_with("ReferenceError: z is not defined\n    at vm:module(0):1:"),
        "{stack}"
    );
}

#[test]
fn error_with_crash_severity_crashes() {
    let e = aborted(
        &single(
            "export default [() => { const e = new Error('bad'); e.severity = 'crash'; e.fix = 'do x'; throw e; }];",
        ),
        Input::Empty,
    );
    assert_eq!(e.name, "RuntimeCrash");
    assert_eq!(e.message, "Error: bad");
    assert_eq!(e.fix.as_deref(), Some("do x"));
}

#[test]
fn mutations_before_a_throw_are_kept() {
    let out = ok(
        &single(&job("fn", "fn(s => { s.x = 1; throw new Error('e'); })")),
        state(json!({ "data": {} })),
    );
    assert_eq!(out["x"], 1);
    assert_eq!(out["errors"]["job1"]["name"], "JobError");
}

#[test]
fn workflow_continues_after_fail() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(() => { throw new Error('a failed'); })"), "next": "b" },
        { "id": "b", "expression": job("fn", "fn(s => ({ ...s, data: { b: true } }))") }
    ] } }));
    let (r, rec) = exec(&p, state(json!({ "data": {} })), options());
    let out = r.expect("ok").expect("state");
    assert_eq!(out["data"]["b"], true);
    assert_eq!(out["errors"]["a"]["message"], "a failed");
    assert_eq!(
        rec.event_names(),
        vec![
            "init-start",
            "init-complete",
            "job-start",
            "job-error",
            "init-start",
            "init-complete",
            "job-start",
            "job-complete"
        ]
    );
    assert!(rec.has_log("a aborted with error ("));
    assert!(rec.has_log("Check state.errors.a for details"));
}

#[test]
fn adaptor_error_mapped_to_operation() {
    let mut p = single(&job("err, fn", "fn(s => s), err()"));
    p.workflow.steps[0].source_map = Some(json!({
        "version": 3, "sources": ["job1.js"], "names": [], "mappings": "",
        "sourcesContent": ["fn(s => s)\nerr()"],
        "operations": [{ "line": 1, "order": 0, "name": "fn" }, { "line": 3, "order": 1, "name": "err" }]
    }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(
        out["errors"]["job1"],
        json!({
            "details": { "code": 1234, "message": "adaptor err" }, "message": "adaptor err", "name": "AdaptorError",
            "source": "runtime", "severity": "fail", "line": 3, "operationName": "err"
        })
    );
}

#[test]
fn adaptor_error_nested_in_job_code_has_position() {
    let e = step_error(&job(
        "err, fn",
        "fn(async (state) => {\n  await err()(state);\n})",
    ));
    assert_eq!(e["name"], "AdaptorError");
    assert_eq!(e["pos"]["line"], 4);
}

#[test]
fn invalid_exports_and_operations() {
    let e = aborted(&single("export default 1;"), Input::Empty);
    assert_eq!(e.name, "RuntimeCrash");
    assert_eq!(e.subtype.as_deref(), Some("InvalidExportsError"));
    assert_eq!(
        e.message,
        "InvalidExportsError: Invalid exports in job expression: exports must be an array"
    );
    let e = aborted(
        &single("export default [(s) => s, undefined];"),
        Input::Empty,
    );
    assert_eq!(
        e.message,
        "InvalidOperationError: Invalid operation at statement 1"
    );
    assert_eq!(
        e.fix.as_deref(),
        Some(
            "Ensure all top-level function or method calls are wrapped in an operation, like fn()"
        )
    );
}

#[test]
fn import_errors() {
    let e = aborted(
        &single("import x from 'lodash';\nexport default [];"),
        Input::Empty,
    );
    assert_eq!(e.name, "ImportError");
    assert_eq!(e.message, "module blacklisted: lodash");
    let e = aborted(
        &single("import { fn } from '@openfn/language-nope';\nexport default [fn(s => s)];"),
        Input::Empty,
    );
    assert_eq!(
        e.message,
        "Failed to import module \"@openfn/language-nope\""
    );
    let mut o = options();
    o.modules.insert(
        "@openfn/language-broken".into(),
        openfn_runtime::ModuleInfo {
            path: Some("/nonexistent/dir".into()),
            version: None,
        },
    );
    let (r, _) = exec(
        &single("import { fn } from '@openfn/language-broken';\nexport default [];"),
        Input::Empty,
        o,
    );
    let e = r.expect_err("abort");
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "ImportError: Failed to import module @openfn/language-broken from /nonexistent/dir ("
        ),
        "{msg}"
    );
}

#[test]
fn source_mapped_position_and_stack() {
    // compiled = two import lines + the user's code; the map shifts lines by 2
    let user = "fn((s) => {\n  return s.data.x.y;\n})";
    let compiled = format!(
        "import {{ fn }} from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [{}];",
        user
    );
    // identity mapping per character for user lines 0..=2 → generated lines 2..=4 (line 2 is offset by 16)
    let mut b = oxc_sourcemap::SourceMapBuilder::default();
    let src_id = b.set_source_and_content("job1.js", user);
    for (i, line) in user.split('\n').enumerate() {
        let offset = if i == 0 { 16 } else { 0 };
        for col in 0..=line.len() as u32 {
            b.add_token(
                i as u32 + 2,
                col + offset,
                i as u32,
                col,
                Some(src_id),
                None,
            );
        }
    }
    let map: Value = serde_json::from_str(&b.into_sourcemap().to_json_string()).expect("map");
    let mut p = single(&compiled);
    p.workflow.steps[0].source_map = Some(map);
    let out = ok(&p, state(json!({ "data": {} })));
    let e = &out["errors"]["job1"];
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(e["pos"]["line"], 2);
    assert_eq!(e["pos"]["src"], "  return s.data.x.y;");
    // V8's column (at `y`, 1-based 19, looked up as if 0-based as the kit does), not QuickJS'
    // (the start of the member chain)
    assert_eq!(e["pos"]["column"], 19);
    assert_eq!(e["step"], "job1");
}

#[test]
fn v8_style_stack_frames() {
    let e = aborted(
        &single("function fn(f) { return f() }\nexport default [fn((s) => z)];"),
        Input::Empty,
    );
    assert_eq!(e.message, "ReferenceError: z is not defined");
    let stack = e.stack.expect("stack");
    let lines: Vec<&str> = stack.lines().collect();
    assert_eq!(lines[0], "ReferenceError: z is not defined");
    assert!(lines[1].starts_with("    at vm:module(0):2:"), "{stack}");
    assert!(
        lines[2].starts_with("    at fn (vm:module(0):1:"),
        "{stack}"
    );
    assert!(lines[3].starts_with("    at vm:module(0):2:"), "{stack}");
    assert!(
        !stack.contains("<anonymous>") && !stack.contains("native"),
        "{stack}"
    );
}

#[test]
fn dynamic_import_is_linked_too() {
    let out = ok(
        &single(
            "export default [async (s) => { try { await import('lodash'); } catch (e) { s.msg = String(e.message); } return s; }];",
        ),
        state(json!({})),
    );
    assert!(
        out["msg"].as_str().is_some_and(|m| m.contains("lodash")),
        "{out}"
    );
}

#[test]
fn adaptor_error_from_a_thrown_string() {
    let e = step_error(&job("throwString", "throwString()"));
    assert_eq!(
        e["name"], "JobError",
        "a string has no stack, so the kit cannot attribute it: {e}"
    );
    assert_eq!(e["message"], "adaptor string");
}
