//! The adaptor corpus (`tests/adaptors/`, as `openfn-runtime`'s `runtime_adaptor_corpus` runs it
//! natively) on the wasm tier: every job compiled against the real `@openfn/language-common` /
//! `@openfn/language-http` (tests/adaptor-versions, installed from the npm registry), run in
//! the guest through `openfn-runtime` with module files and HTTP answered by the host, against
//! the same deterministic HTTP server. Final states and `JOB`/`ADA` lines must equal the kit's
//! recorded ones, with exactly the native tier's known failures.

#![cfg(feature = "wasm")]

mod common;
#[path = "../../../tests/adaptors/harness.rs"]
mod harness;
#[path = "../../runtime/tests/node/mod.rs"]
mod node;

use std::collections::BTreeMap;

use openfn_sandbox_wasm::{Limits, PlanOptions};
use serde_json::{Value, json};

#[test]
fn corpus_matches_node_and_the_kit_on_the_wasm_tier() {
    let repo = node::repo_dir();
    let common_adaptor = node::installed(&repo, node::COMMON);
    let http = node::installed(&repo, node::HTTP);
    let server = harness::Server::start();
    let mut report = harness::Report::default();
    for job in harness::jobs(&server) {
        let adaptor = if job.http { &http } else { &common_adaptor };
        let (code, map) = node::compile_job(&job.source, adaptor);
        let plan = json!({"workflow": {"steps": [
            {"id": "job", "expression": code, "sourceMap": map}
        ]}});
        let mut linked = BTreeMap::new();
        linked.insert(adaptor.name.clone(), adaptor.path.clone());
        let options = PlanOptions {
            repo: Some(repo.clone()),
            linked,
            allowed_hosts: vec!["*".to_owned()],
            log_level: "debug".to_owned(),
            ..PlanOptions::default()
        };
        let out = common::sandbox()
            .run_plan(&plan, job.input.as_ref(), &options, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", job.name));
        // every job starts from the adaptor's pre-initialised snapshot (the default)
        assert!(
            out.snapshot.used() && out.prepared,
            "{}: {:?}",
            job.name,
            out.snapshot
        );
        let state = match (&out.state, &out.error) {
            (Some(s), None) => s.clone(),
            (_, Some(e)) => json!({"thrown": {"name": e["name"], "message": e["message"]}}),
            (None, None) => Value::Null,
        };
        let lines: Vec<Value> = out
            .lines
            .iter()
            .filter(|l| l["name"] == "JOB" || l["name"] == "ADA")
            .map(|l| json!({"name": l["name"], "level": l["level"], "message": l["message"]}))
            .collect();
        report.check(&job, &server, &state, &Value::Array(lines));
    }
    report.finish();
}
