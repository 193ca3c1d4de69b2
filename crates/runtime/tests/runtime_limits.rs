//! Limits: step and run timeouts (uncatchable), memory limit (OOM not catchable), state size,
//! stack depth.

mod common;

use common::*;
use openfn_runtime::{Input, RunError, Severity};
use serde_json::json;

fn abort_with(
    p: &openfn_runtime::ExecutionPlan,
    o: openfn_runtime::RunOptions,
) -> openfn_runtime::RtError {
    let (r, _) = exec(p, state(json!({ "data": {} })), o);
    match r {
        Err(RunError::Aborted(e)) => *e,
        other => panic!("expected abort, got {other:?}"),
    }
}

#[test]
fn busy_loop_times_out_and_cannot_be_caught() {
    let mut p =
        single("export default [(s) => { try { while (true) {} } catch (e) { return s; } }];");
    p.options.timeout = Some(200);
    let e = abort_with(&p, options());
    assert_eq!(e.name, "TimeoutError");
    assert_eq!(e.severity, Severity::Kill);
    assert_eq!(e.message, "Job took longer than 200ms to complete");
}

#[test]
fn pending_promise_times_out() {
    let p = single("export default [(s) => new Promise(() => {})];");
    let mut o = options();
    o.default_run_timeout_ms = Some(100);
    let e = abort_with(&p, o);
    assert_eq!(e.message, "Job took longer than 100ms to complete");
}

#[test]
fn run_timeout_covers_the_whole_run() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": "export default [(s) => new Promise((r) => setTimeout(() => r(s), 80))];", "next": "b" },
        { "id": "b", "expression": "export default [(s) => new Promise((r) => setTimeout(() => r(s), 80))];" }
    ] } }));
    let mut o = options();
    o.run_timeout_ms = Some(120);
    let e = abort_with(&p, o);
    assert_eq!(e.name, "TimeoutError");
}

#[test]
fn out_of_memory_cannot_be_caught() {
    let p = single(
        "export default [(s) => { const a = []; try { while (true) a.push(new Array(100000).fill(1)); } catch (e) { s.data.caught = e.message; } return s; }];",
    );
    let mut o = options();
    o.memory_limit_mb = Some(64);
    let e = abort_with(&p, o);
    assert_eq!(e.name, "OOMError");
    assert_eq!(e.severity, Severity::Kill);
    assert_eq!(e.message, "Run exceeded maximum memory usage");
}

#[test]
fn out_of_memory_uncaught() {
    let p = single(
        "export default [(s) => { const a = []; while (true) a.push('x'.repeat(1000) + a.length); }];",
    );
    let mut o = options();
    o.memory_limit_mb = Some(32);
    assert_eq!(abort_with(&p, o).name, "OOMError");
}

#[test]
fn state_too_large() {
    let p =
        single("export default [(s) => { s.data.big = 'x'.repeat(2 * 1024 * 1024); return s; }];");
    let mut o = options();
    o.state_limit_mb = 1.0;
    let e = abort_with(&p, o);
    assert_eq!(e.name, "StateTooLargeError");
    assert_eq!(e.severity, Severity::Kill);
    assert_eq!(e.message, "State exceeds the limit of 1mb");
}

#[test]
fn deep_recursion_is_a_range_error() {
    let out = ok(
        &single("export default [(s) => { const f = (n) => f(n + 1) + 1; f(0); return s; }];"),
        state(json!({ "data": {} })),
    );
    let e = &out["errors"]["job1"];
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(e["message"], "RangeError: Maximum call stack size exceeded");
}

#[test]
fn a_new_run_works_after_a_killed_one() {
    let mut p = single("export default [(s) => { while (true) {} }];");
    p.options.timeout = Some(50);
    assert_eq!(abort_with(&p, options()).name, "TimeoutError");
    assert_eq!(
        ok(
            &single("export default [(s) => ({ ok: true })];"),
            Input::Empty
        ),
        json!({ "ok": true })
    );
}

#[test]
fn adaptor_load_is_under_the_step_timeout() {
    let mut p =
        single("import { fn } from '@openfn/language-hang';\nexport default [fn((s) => s)];");
    p.options.timeout = Some(150);
    let mut o = options();
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adaptor/hang");
    o.modules.insert(
        "@openfn/language-hang".into(),
        openfn_runtime::ModuleInfo {
            path: Some(dir.to_string_lossy().into_owned()),
            version: None,
        },
    );
    let e = abort_with(&p, o);
    assert_eq!(e.name, "TimeoutError");
    assert_eq!(e.message, "Job took longer than 150ms to complete");
}
