//! Resource bombs and hostile values: memory, CPU, stack, timers, state size, and proxies or
//! getters met while the state is cloned. Each ends the step or the run with the kit's typed
//! error, and the next run is unaffected.

mod common;

use common::*;
use openfn_runtime::{ExecutionPlan, RunError, RunOptions, Severity};
use serde_json::json;

/// Runs `ops` (job-realm operations with the fixture adaptor) and returns the abort, if any,
/// or the step's error object.
fn attack(ops: &str, options: RunOptions) -> (String, Severity) {
    attack_within(ops, options, 1_000)
}

fn attack_within(ops: &str, options: RunOptions, timeout_ms: u64) -> (String, Severity) {
    let mut p: ExecutionPlan = single(&job("fn", ops));
    p.options.timeout = Some(timeout_ms);
    let (r, _) = exec(&p, state(json!({ "data": {} })), options);
    match r {
        Err(RunError::Aborted(e)) => (e.name, e.severity),
        Ok(Some(state)) => {
            let e = &state["errors"]["job1"];
            let severity = serde_json::from_value(e["severity"].clone()).unwrap_or(Severity::Fail);
            (e["name"].as_str().unwrap_or("none").to_owned(), severity)
        }
        other => panic!("{ops}: unexpected {other:?}"),
    }
}

fn next_run_unaffected() {
    let out = ok(
        &single(&job(
            "fn, count",
            "count(), fn((s) => ({ ...s, ok: [1, 2].map((x) => x * 2) }))",
        )),
        state(json!({ "data": {} })),
    );
    assert_eq!(out["data"]["calls"], 1, "a fresh adaptor realm: {out}");
    assert_eq!(out["ok"], json!([2, 4]), "{out}");
}

fn limited() -> RunOptions {
    let mut o = options();
    o.memory_limit_mb = Some(48);
    o
}

#[test]
fn memory_bombs_are_oom_errors() {
    for (ops, expected) in [
        // QuickJS' string length limit comes first, as V8's does: a RangeError in the job
        (
            "fn((s) => { let x = 'x'; while (true) x += x; })",
            "JobError",
        ),
        (
            "fn((s) => { const a = []; try { while (true) a.push(new Array(1e5).fill(a.length)); } catch (e) { return s; } })",
            "OOMError",
        ),
        (
            "fn((s) => { s.data.big = new ArrayBuffer(1024 * 1024 * 1024); return s; })",
            "OOMError",
        ),
        (
            "fn((s) => { const m = new Map(); for (let i = 0; ; i++) m.set(i, { i }); })",
            "OOMError",
        ),
    ] {
        // time enough to fill the memory limit on a loaded machine
        let (name, severity) = attack_within(ops, limited(), 30_000);
        assert_eq!(name, expected, "{ops}");
        if name == "OOMError" {
            assert_eq!(severity, Severity::Kill, "{ops}");
        }
        next_run_unaffected();
    }
}

#[test]
fn cpu_bombs_are_timeouts() {
    for ops in [
        "fn((s) => { while (true) {} })",
        "fn((s) => { for (;;) { try { while (true) {} } catch (e) {} } })",
        "fn((s) => new Promise(() => {}))",
        "fn((s) => new Promise((r) => { const spin = () => Promise.resolve().then(spin); spin(); }))",
        "fn((s) => new Promise(() => { setInterval(() => { for (let i = 0; i < 1e5; i++); }, 0); }))",
        "fn((s) => { const r = /(a+)+$/; r.test('a'.repeat(40) + '!'); return s; })",
    ] {
        let (name, severity) = attack(ops, options());
        assert_eq!(
            (name.as_str(), severity),
            ("TimeoutError", Severity::Kill),
            "{ops}"
        );
        next_run_unaffected();
    }
}

#[test]
fn stack_bombs_are_clean_errors() {
    for (ops, expected) in [
        // RangeError: Maximum call stack size exceeded
        ("fn((s) => { const f = () => f(); f(); })", "RuntimeError"),
        // deep values: serialising them runs into the memory limit, never the native stack
        (
            "fn((s) => { let o = {}; for (let i = 0; i < 1e6; i++) o = { o }; s.data.deep = o; return s; })",
            "OOMError",
        ),
        (
            "fn((s) => { let a = []; for (let i = 0; i < 1e6; i++) a = [a]; return { data: JSON.parse(JSON.stringify(a)) }; })",
            "OOMError",
        ),
    ] {
        let (name, _) = attack(ops, limited());
        assert_eq!(name, expected, "{ops}");
        next_run_unaffected();
    }
}

#[test]
fn proxies_and_getters_during_cloning_are_clean_errors() {
    // traps and getters run while the state is serialised: what they throw fails the step (as
    // on the kit), what generates code is refused, what loops times out
    for (ops, expected) in [
        (
            "fn((s) => { s.data.p = new Proxy({}, { ownKeys() { throw new Error('trap'); } }); return s; })",
            "JobError",
        ),
        (
            "fn((s) => { s.data.p = new Proxy({}, { get() { return Function('return 1'); } }); return s; })",
            "JobError",
        ),
        (
            "fn((s) => { s.data.p = { get x() { return eval('1'); } }; return s; })",
            "JobError",
        ),
        (
            "fn((s) => new Proxy(s, { get() { throw new Error('trap'); } }))",
            "JobError",
        ),
        (
            "fn((s) => { s.data.p = { toJSON() { while (true) {} } }; return s; })",
            "TimeoutError",
        ),
        (
            "fn((s) => { s.data.p = new Proxy([], { get(t, k) { return k === 'length' ? 1e9 : 1; } }); return s; })",
            "TimeoutError",
        ),
    ] {
        let (name, _) = attack(ops, limited());
        assert_eq!(name, expected, "{ops}");
        next_run_unaffected();
    }
}

#[test]
fn state_bombs_are_state_too_large() {
    let mut o = options();
    o.state_limit_mb = 1.0;
    let (name, severity) = attack(
        "fn((s) => { s.data.big = 'x'.repeat(4 * 1024 * 1024); return s; })",
        o,
    );
    assert_eq!(name, "StateTooLargeError");
    assert_eq!(severity, Severity::Kill);
    next_run_unaffected();
}
