//! The runtime with the node host running compiled jobs against the real
//! `@openfn/language-common@3` installed from npm by openfn-repo.

mod node;

use serde_json::{Value, json};

fn run_common(source: &str, input: Option<Value>) -> Value {
    let repo = node::repo_dir();
    let common = node::installed(&repo, node::COMMON);
    let code = node::compile_job(source, &common);
    let host = node::host(&repo);
    let rt = node::tokio_rt();
    node::run_job(&rt, &code, input, node::options(&repo, &common, &host))
}

#[test]
fn fn_replaces_state() {
    let state = run_common("fn(s => ({...s, data: {x: 1}}));", None);
    assert_eq!(state, json!({"data": {"x": 1}}));
}

#[test]
fn common_helpers_work_in_a_job() {
    let source = r#"
        each('$.data.items[*]', fn((s) => { s.seen = (s.seen || []).concat(dataValue('id')(s)); return s; }));
        fn((s) => ({
          ...s,
          data: {
            chunks: _.chunk([1, 2, 3], 2),
            day: dateFns.format(dateFns.parse('28.02.2024', 'dd.MM.yyyy', new Date()), 'yyyy-MM-dd'),
            uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(util.uuid()),
          },
        }));
    "#;
    let state = run_common(
        source,
        Some(json!({"data": {"items": [{"id": 1}, {"id": 2}]}})),
    );
    assert_eq!(
        state,
        json!({
            "data": {"chunks": [[1, 2], [3]], "day": "2024-02-28", "uuid": true},
            "index": 1,
            "seen": [1, 2],
        })
    );
}

/// Adaptor `console` output goes to the runtime's `ADA` logger (the node host's console is
/// replaced by the runtime's), and job `console` output to `JOB`.
#[test]
fn adaptor_console_goes_to_the_ada_logger() {
    let repo = node::repo_dir();
    let common = node::installed(&repo, node::COMMON);
    let code = node::compile_job(
        "cursor('2024-01-02T03:04:05Z');\nfn((s) => { console.log('from job'); return s; });",
        &common,
    );
    let host = node::host(&repo);
    let rt = node::tokio_rt();
    let (state, logs) =
        node::run_job_logged(&rt, &code, None, node::options(&repo, &common, &host));
    assert_eq!(state["cursor"], json!("2024-01-02T03:04:05Z"));
    assert!(
        logs.contains(&"ADA Setting cursor to: 2024-01-02T03:04:05Z".to_owned()),
        "{logs:#?}"
    );
    assert!(logs.contains(&"JOB from job".to_owned()), "{logs:#?}");
}

/// The real adaptor's functions and libraries give job code no way to generate code: not the
/// adaptor realm's function constructors, not lodash's `_.template`, not jsonpath-plus with
/// native evaluation (through the `vm` built-in); ajv (`validate`) still compiles schemas.
#[test]
fn real_adaptor_gives_jobs_no_code_generation() {
    for code in [
        "fn.constructor('return globalThis')()",
        "Object.getPrototypeOf(fn).constructor.call(null, 'return 1')",
        "_.template('<%= 1 + 1 %>')()",
        // lodash catches the refusal and returns it
        "const r = _.attempt(fn.constructor, 'return 1'); if (typeof r === 'function') s.escaped = true; else throw r",
        "Object.getPrototypeOf(each('$.x', fn((s) => s))).constructor('return 1')",
    ] {
        let state = run_common(&format!("fn((s) => {{ {code}; return s; }});"), None);
        assert_eq!(
            state["thrown"],
            json!({"name": "SecurityError", "message": "Illegal eval statement detected"}),
            "{code}: {state}"
        );
    }
    let state = run_common(
        "validate({ type: 'object', required: ['a'] }, 'data');",
        Some(json!({"data": {"b": 1}})),
    );
    assert_eq!(
        state["validationErrors"][0]["errors"][0]["message"],
        json!("must have required property 'a'"),
        "{state}"
    );
}
