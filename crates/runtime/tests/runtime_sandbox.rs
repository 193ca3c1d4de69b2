//! The job realm (§2.9): globals, frozen values, isolation between steps and runs; the
//! adaptor realm shared by the steps of one run; `defer`. Attacks are in `security_*.rs`.

mod common;

use common::*;
use openfn_runtime::Input;
use serde_json::{Value, json};

fn run_ops(ops: &str) -> Value {
    ok(
        &single(&format!("export default [{ops}];")),
        state(json!({ "data": {} })),
    )
}

fn error_of(ops: &str) -> Value {
    run_ops(ops)["errors"]["job1"].clone()
}

#[test]
fn globals_do_not_leak_between_steps() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": "export default [(s) => { globalThis.x = 10; s.data.a = globalThis.x; return s; }];", "next": "b" },
        { "id": "b", "expression": "export default [(s) => { s.data.b = typeof globalThis.x; return s; }];" }
    ] } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out["data"], json!({ "a": 10, "b": "undefined" }));
}

#[test]
fn node_globals_are_absent() {
    let out = run_ops(
        "(s) => { s.data.t = [typeof process, typeof require, typeof module, typeof fetch, typeof URL, typeof setImmediate, typeof structuredClone].join(); return s; }",
    );
    assert_eq!(
        out["data"]["t"],
        "undefined,undefined,undefined,undefined,undefined,undefined,undefined"
    );
    let e = aborted(
        &single("export default [(s) => process.pid];"),
        Input::Empty,
    );
    assert_eq!(e.message, "ReferenceError: process is not defined");
}

#[test]
fn console_is_frozen() {
    let e = error_of("(s) => { console.x = 10; return s; }");
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(e["subtype"], "TypeError");
    assert_eq!(
        e["message"],
        "TypeError: Cannot add property x, object is not extensible"
    );
}

#[test]
fn set_timeout_needs_a_function() {
    let e = error_of("(s) => { setTimeout('code', 1); return s; }");
    assert_eq!(e["name"], "RuntimeError");
    assert_eq!(
        e["message"],
        "TypeError: The \"callback\" argument must be of type function. Received type string ('code')"
    );
}

#[test]
fn timers_work() {
    let out = run_ops(
        "(s) => new Promise((r) => setTimeout(() => { s.data.t = 1; r(s); }, 5)), (s) => new Promise((r) => { const i = setInterval(() => { s.data.n = (s.data.n || 0) + 1; if (s.data.n === 3) { clearInterval(i); r(s); } }, 1); })",
    );
    assert_eq!(out["data"], json!({ "t": 1, "n": 3 }));
}

#[test]
fn buffer_from_works_constructor_throws() {
    let out = run_ops(
        "(s) => { s.data.joe = Buffer.from('6a6f65', 'hex').toString(); s.data.b64 = Buffer.from('héllo').toString('base64'); s.data.back = Buffer.from(s.data.b64, 'base64').toString('utf8'); return s; }",
    );
    assert_eq!(
        out["data"],
        json!({ "joe": "joe", "b64": "aMOpbGxv", "back": "héllo" })
    );
    let e = error_of("(s) => { new Buffer(1); return s; }");
    assert_eq!(
        e["message"],
        "TypeError: Do not call Buffer() constructor directly. Use Buffer.from() instead."
    );
}

#[test]
fn builtins_and_state_global() {
    let out = run_ops(
        "(s) => { s.data.set = new Set([1, 1]).size; s.data.int = parseInt('22'); s.data.same = s === state; s.data.json = JSON.stringify({ a: 1 }); return s; }",
    );
    assert_eq!(
        out["data"],
        json!({ "set": 1, "int": 22, "same": true, "json": "{\"a\":1}" })
    );
}

#[test]
fn injected_globals_cannot_override_console() {
    let mut o = options();
    o.globals = Some(json!({ "console": "nope", "parseInt": 1, "meta": { "runId": "r1" } }));
    let p = single(
        "export default [(s) => { s.data.c = typeof console.log; s.data.p = typeof parseInt; s.data.m = meta.runId; s.data.frozen = Object.isFrozen(meta); return s; }];",
    );
    let (r, _) = exec(&p, state(json!({ "data": {} })), o);
    assert_eq!(
        r.expect("ok").expect("state")["data"],
        json!({ "c": "function", "p": "function", "m": "r1", "frozen": true })
    );
}

#[test]
fn workflow_globals_module() {
    let p = plan(json!({ "workflow": {
        "globals": "let n = 0; export const next = () => ++n; export const NAME = 'g';",
        "steps": [
            { "id": "a", "expression": "export default [(s) => { s.data.a = [next(), next(), NAME]; return s; }];", "next": "b" },
            { "id": "b", "expression": "export default [(s) => { s.data.b = next(); return s; }];" }
        ]
    } }));
    let out = ok(&p, state(json!({ "data": {} })));
    assert_eq!(out["data"], json!({ "a": [1, 2, "g"], "b": 1 }));
}

#[test]
fn adaptor_state_persists_within_a_run_only() {
    let p = plan(json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("count", "count()"), "next": "b" },
        { "id": "b", "expression": job("count", "count()") }
    ] } }));
    assert_eq!(ok(&p, state(json!({ "data": {} })))["data"]["calls"], 2);
    assert_eq!(ok(&p, state(json!({ "data": {} })))["data"]["calls"], 2);
}

#[test]
fn adaptor_console_and_relative_imports() {
    let p = single(&job("say, helped", "say('from adaptor'), helped()"));
    let (r, rec) = exec(&p, state(json!({ "data": {} })), options());
    assert_eq!(
        r.expect("ok").expect("state")["data"]["helped"],
        "from util"
    );
    assert!(rec.has_log("ADA from adaptor"), "{:?}", rec.log_texts());
}

#[test]
fn each_runs_nested_operations() {
    let out = ok(
        &single(&job(
            "each, fn",
            "fn(s => { s.data = { items: [1, 2, 3] }; s.seen = []; return s; }), each('data.items', fn(s => { state.seen.push(s.data * 2); return s; }))",
        )),
        state(json!({})),
    );
    assert_eq!(out["seen"], json!([2, 4, 6]));
}

const DEFER: &str = "import { defer } from '@openfn/runtime';";

/// `op().catch(handler).then(…)` as the compiler rewrites it.
const CAUGHT_THEN: &str =
    "(p) => p.then((s) => ({ ...s, done: true })), (e, s) => ({ ...s, caught: e.message })";

#[test]
fn defer_sync_throw_goes_to_the_handler_and_skips_the_chain() {
    let out = run_ops_with_import(
        DEFER,
        &format!("defer((s) => {{ throw new Error('x'); }}, {CAUGHT_THEN})"),
    );
    assert_eq!(out["caught"], "x");
    assert_eq!(
        out.get("done"),
        None,
        "the .then chain must be skipped: {out}"
    );
    let out = run_ops_with_import(DEFER, "defer(async (s) => ({ ...s, ok: 1 }))");
    assert_eq!(out["ok"], 1);
}

#[test]
fn defer_async_rejection_goes_through_the_handler_then_the_chain() {
    let out = run_ops_with_import(
        DEFER,
        &format!("defer(async (s) => {{ throw new Error('x'); }}, {CAUGHT_THEN})"),
    );
    assert_eq!(out["caught"], "x");
    assert_eq!(out["done"], true);
}

#[test]
fn defer_sync_throw_without_a_handler_skips_a_catch_in_the_chain() {
    // `op().then(…).catch(…)`: the catch is part of the chain, which a synchronous throw skips.
    let out = run_ops_with_import(
        DEFER,
        "defer((s) => { throw new Error('x'); }, (p) => p.then((s) => s).catch((e) => ({ recovered: true })))",
    );
    assert_eq!(out.get("recovered"), None, "{out}");
    assert_eq!(out["errors"]["job1"]["message"], "x", "{out}");
}

fn run_ops_with_import(import: &str, ops: &str) -> Value {
    ok(
        &single(&format!("{import}\nexport default [{ops}];")),
        state(json!({ "data": {} })),
    )
}

#[test]
fn job_may_define_its_own_execute() {
    let out = ok(
        &single(
            "export const execute = (...ops) => (s) => ops.reduce((p, op) => p.then(op), Promise.resolve({ ...s, seeded: true }));\nexport default [(s) => s];",
        ),
        state(json!({})),
    );
    assert_eq!(out["seeded"], true);
}

#[test]
fn immutable_state_option_clones_per_operation() {
    let mut o = options();
    o.immutable_state = true;
    let p = single(
        "export default [(s) => { state.data.mutated = true; return { ...s, data: { ...s.data, op: 1 } }; }];",
    );
    let (r, _) = exec(&p, state(json!({ "data": {} })), o);
    assert_eq!(r.expect("ok").expect("state")["data"], json!({ "op": 1 }));
}

#[test]
fn repo_layout_resolves_aliased_versions() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = dir.path();
    let alias = repo.join("node_modules/@openfn/language-common_1.0.0");
    std::fs::create_dir_all(&alias).expect("mkdir");
    std::fs::create_dir_all(alias.join("node_modules/ajv")).expect("mkdir");
    for f in [
        "package.json",
        "index.js",
        "util.js",
        "node_modules/ajv/compile.js",
        "node_modules/ajv/package.json",
    ] {
        std::fs::copy(adaptor_dir().join(f), alias.join(f)).expect("copy");
    }
    std::fs::write(
        repo.join("package.json"),
        r#"{"name":"openfn-repo","private":true,"version":"1.0.0","dependencies":{"@openfn/language-common_1.0.0":"npm:@openfn/language-common@1.0.0"}}"#,
    )
    .expect("write");
    let mut o = options();
    o.modules.clear();
    o.repo = Some(repo.to_path_buf());
    let mut p = single(&job("fn", "fn(s => ({ data: { ok: true } }))"));
    p.workflow.steps[0].adaptors = Some(vec!["@openfn/language-common@1.0.0".into()]);
    // a second step with the same adaptor: the kit's linker announces it again
    let mut second = p.workflow.steps[0].clone();
    second.id = Some("two".into());
    p.workflow.steps[0].id = Some("one".into());
    p.workflow.steps[0].next = Some(openfn_lexicon::plan::Next::Id("two".into()));
    p.workflow.steps.push(second);
    let (r, rec) = exec(&p, Input::Empty, o);
    assert_eq!(
        r.expect("ok").expect("state"),
        json!({ "data": { "ok": true } })
    );
    let resolved = rec
        .log_texts()
        .into_iter()
        .filter(|l| l.contains("Resolved adaptor @openfn/language-common to version 1.0.0"))
        .count();
    assert_eq!(resolved, 2, "{:?}", rec.log_texts());
}
