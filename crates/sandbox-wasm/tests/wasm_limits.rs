//! CPU (fuel), memory (StoreLimits) and output limits on the wasm tier: none can be caught by
//! the job.
#![cfg(feature = "wasm")]

mod common;

use common::run_with;
use openfn_lexicon::error::Severity;
use openfn_sandbox_wasm::Limits;
use serde_json::json;

#[test]
fn an_endless_loop_runs_out_of_fuel_as_a_timeout_even_inside_try() {
    let limits = Limits {
        fuel: 200_000_000,
        ..Limits::default()
    };
    let job =
        "export default [s => { try { while (true) {} } catch (e) { return { caught: true }; } }];";
    let out = run_with(job, json!({}), limits);
    let e = out.error.expect("an error");
    assert_eq!(
        (e.name.as_str(), e.severity),
        ("TimeoutError", Severity::Kill)
    );
    assert_eq!(out.state, None);
    assert!(out.fuel_used >= limits.fuel, "used {}", out.fuel_used);
}

#[test]
fn an_allocation_bomb_is_an_uncatchable_oom() {
    let limits = Limits {
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    };
    let job = r#"export default [s => {
        try { const a = []; while (true) a.push(new Array(1e5).fill(s)); }
        catch (e) { return { caught: String(e) }; }
    }];"#;
    let out = run_with(job, json!({}), limits);
    let e = out.error.expect("an error");
    assert_eq!((e.name.as_str(), e.severity), ("OOMError", Severity::Kill));
    assert_eq!(out.state, None);
    assert!(
        out.memory_peak <= limits.memory_bytes,
        "peak {}",
        out.memory_peak
    );
}

#[test]
fn a_state_over_the_output_cap_is_state_too_large() {
    let limits = Limits {
        output_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let out = run_with(
        "export default [s => ({ big: 'x'.repeat(2 * 1024 * 1024) })];",
        json!({}),
        limits,
    );
    let e = out.error.expect("an error");
    assert_eq!(
        (e.name.as_str(), e.severity),
        ("StateTooLargeError", Severity::Kill)
    );
}

#[test]
fn a_run_after_a_killed_run_is_unaffected() {
    let limits = Limits {
        fuel: 50_000_000,
        ..Limits::default()
    };
    let out = run_with(
        "export default [s => { while (true) {} }];",
        json!({}),
        limits,
    );
    assert_eq!(out.error.map(|e| e.name), Some("TimeoutError".into()));
    let out = run_with(
        "export default [s => ({ ok: 1 })];",
        json!({}),
        Limits::default(),
    );
    assert_eq!(out.state, Some(json!({"ok": 1})));
}
