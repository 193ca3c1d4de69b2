//! Real adaptors: jobs compiled by the compiler crate, run with `@openfn/language-common` 3.x
//! from npm loaded through the Node-compatible host as the adaptor realm.

mod common;

use std::path::PathBuf;
use std::rc::Rc;

use common::{Recorder, exec, plan, state};
use openfn_compiler::{AdaptorImports, Options, compile};
use openfn_runtime::{HostPolicy, ModuleInfo, NodeAdaptorHost, NodeHost, RunOptions};
use serde_json::{Value, json};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

/// `@openfn/language-common` (pinned in tests/adaptor-versions) installed with npm once per
/// build; the cache directory names the version.
fn adaptors_dir() -> PathBuf {
    let spec = adaptor_versions::spec(adaptor_versions::COMMON);
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "runtime-adaptors-{}",
        adaptor_versions::version(adaptor_versions::COMMON)
    ));
    if base
        .join("node_modules/@openfn/language-common/package.json")
        .exists()
    {
        return base;
    }
    adaptor_versions::npm_install(&base, &[spec]);
    base
}

fn compiled(source: &str) -> (String, Value) {
    let mut adaptor = AdaptorImports::new("@openfn/language-common");
    adaptor.export_all = true;
    let mut options = Options {
        name: "job".into(),
        ..Options::default()
    };
    options.imports.adaptors.push(adaptor);
    let c = compile(source, &options).expect("compiles");
    (
        c.code,
        serde_json::from_str(&c.map.to_json()).expect("map json"),
    )
}

fn node_options() -> RunOptions {
    let root = adaptors_dir();
    let dir = root.join("node_modules/@openfn/language-common");
    let host = NodeHost::new(HostPolicy::deny_all().allow_modules_under(&root));
    let mut o = RunOptions {
        adaptor_host: Rc::new(NodeAdaptorHost::new(host)),
        ..RunOptions::default()
    };
    o.modules.insert(
        "@openfn/language-common".into(),
        ModuleInfo {
            path: Some(dir.to_string_lossy().into_owned()),
            version: None,
        },
    );
    o
}

#[test]
fn language_common_from_npm_runs_compiled_jobs() {
    let (code, map) = compiled(
        "fn(state => { state.data.items = [1, 2, 3]; return state; });\n\
         each('$.data.items[*]', fn(s => { console.log('item', s.data); return s; }));\n\
         fn(state => ({ ...state, done: true }));",
    );
    let p = plan(
        json!({ "workflow": { "steps": [{ "id": "job", "expression": code, "sourceMap": map }] } }),
    );
    let (r, rec): (_, Rc<Recorder>) = exec(&p, state(json!({ "data": {} })), node_options());
    let out = r.expect("run ok").expect("state");
    assert_eq!(out["done"], true, "{out}");
    assert!(out.get("errors").is_none(), "{out}");
    let job_lines: Vec<Vec<Value>> = rec
        .logs
        .borrow()
        .iter()
        .filter(|l| l.name == "JOB")
        .map(|l| l.message.clone())
        .collect();
    assert_eq!(
        job_lines,
        vec![
            vec![json!("item"), json!(1)],
            vec![json!("item"), json!(2)],
            vec![json!("item"), json!(3)]
        ]
    );
}

#[test]
fn errors_map_back_to_the_dsl_source() {
    let (code, map) = compiled("fn(state => state);\nfn(state => state.data.x.y);");
    let p = plan(
        json!({ "workflow": { "steps": [{ "id": "job", "expression": code, "sourceMap": map }] } }),
    );
    let (r, _) = exec(&p, state(json!({ "data": {} })), node_options());
    let out = r.expect("run ok").expect("state");
    let e = &out["errors"]["job"];
    assert_eq!(e["name"], "RuntimeError", "{out}");
    assert_eq!(
        e["message"],
        "TypeError: Cannot read properties of undefined (reading 'y')"
    );
    assert_eq!(e["pos"]["line"], 2, "{out}");
    assert_eq!(e["pos"]["src"], "fn(state => state.data.x.y);");
    assert_eq!(e["step"], "job");
}
