//! Plain jobs, state in and out, console lines and thrown errors on the wasm tier.
#![cfg(feature = "wasm")]

mod common;

use common::{run, run_with};
use openfn_lexicon::error::Severity;
use openfn_sandbox_wasm::Limits;
use serde_json::json;

#[test]
fn a_plain_job_returns_its_final_state_and_reports_fuel() {
    let out = run("export default [s => ({ ...s, x: 1 })];");
    assert_eq!(out.error, None);
    assert_eq!(out.state, Some(json!({"data": {}, "x": 1})));
    assert!(out.fuel_used > 0, "fuel used: {}", out.fuel_used);
    assert!(out.memory_peak > 0);
}

#[test]
fn state_goes_in_and_comes_out_through_async_operations() {
    let job = r#"
        const double = (s) => ({ ...s, data: { n: s.data.n * 2, items: s.data.items.map(i => i + '!') } });
        const later = async (s) => { await null; console.log('n is', s.data.n, { ok: true }); return s; };
        export default [double, later, async (s) => ({ ...s, references: [1] })];
    "#;
    let state = json!({"data": {"n": 21, "items": ["a", "b"]}, "configuration": {"k": "v"}});
    let out = run_with(job, state, Limits::default());
    assert_eq!(out.error, None);
    assert_eq!(
        out.state,
        Some(
            json!({"data": {"n": 42, "items": ["a!", "b!"]}, "configuration": {"k": "v"}, "references": [1]})
        )
    );
    assert_eq!(out.logs.len(), 1);
    assert_eq!(out.logs[0].level, "log");
    assert_eq!(
        out.logs[0].message,
        vec![json!("n is"), json!(42), json!({"ok": true})]
    );
}

#[test]
fn a_thrown_error_is_a_job_error_that_fails_the_step() {
    let out = run("export default [s => s, s => { throw new Error('boom'); }];");
    let e = out.error.expect("an error");
    assert_eq!((e.name.as_str(), e.severity), ("JobError", Severity::Fail));
    assert_eq!(e.message, "boom");
    assert_eq!(e.extra.get("operation"), Some(&json!(1)));
    assert_eq!(out.state, None);
}

#[test]
fn type_and_reference_errors_are_classified_like_the_native_tier() {
    let out = run("export default [s => s.nope.deeper];");
    let e = out.error.expect("an error");
    assert_eq!(
        (e.name.as_str(), e.severity),
        ("RuntimeError", Severity::Fail)
    );
    assert_eq!(e.subtype.as_deref(), Some("TypeError"));
    assert!(e.message.starts_with("TypeError: "), "{}", e.message);

    let out = run("export default [s => notDefined];");
    let e = out.error.expect("an error");
    assert_eq!(
        (e.name.as_str(), e.severity),
        ("RuntimeCrash", Severity::Crash)
    );
    assert!(e.message.contains("notDefined"), "{}", e.message);
}

#[test]
fn a_non_array_export_and_a_non_function_operation_are_refused() {
    let e = run("export default 42;").error.expect("an error");
    assert_eq!(e.name, "InvalidExportsError");
    let e = run("export default [s => s, 7];").error.expect("an error");
    assert_eq!(e.name, "InvalidOperationError");
}

#[test]
fn a_thrown_string_is_a_job_error_with_that_text() {
    let e = run("export default [s => { throw 'plain'; }];")
        .error
        .expect("an error");
    assert_eq!(e.name, "JobError");
    assert_eq!(e.message, "plain");
}

#[test]
fn a_promise_that_can_never_settle_ends_the_run_with_exit_error() {
    let e = run("export default [s => new Promise(() => {})];")
        .error
        .expect("an error");
    assert_eq!(e.name, "ExitError");
    assert!(e.message.contains("never settle"), "{}", e.message);
}
