//! The adaptor corpus (`tests/adaptors/` at the workspace root) in process: every job compiled
//! with openfn-compiler and run by the runtime with the node host against the real
//! `@openfn/language-common` / `@openfn/language-http` (pinned in tests/adaptor-versions)
//! installed by openfn-repo, with the same deterministic HTTP server the recorder used. Each
//! final state and the job's log lines (`JOB` and `ADA`) must equal the recorded
//! `NN-name.expected.json` and `NN-name.logs.json` (the kit's compiler and runtime on node); jobs
//! listed in `KNOWN_FAILURES` must fail and all others pass. The engine runs the same corpus
//! through real children.

#[path = "../../../tests/adaptors/harness.rs"]
mod harness;
mod node;

#[test]
fn corpus_matches_node_and_the_kit() {
    let repo = node::repo_dir();
    let common = node::installed(&repo, node::COMMON);
    let http = node::installed(&repo, node::HTTP);
    let host = node::host(&repo);
    let rt = node::tokio_rt();
    let server = harness::Server::start();
    let mut report = harness::Report::default();
    for job in harness::jobs(&server) {
        let adaptor = if job.http { &http } else { &common };
        let code = node::compile_job(&job.source, adaptor);
        let (state, logs) = node::run_job_records(
            &rt,
            &code,
            job.input.clone(),
            node::options(&repo, adaptor, &host),
        );
        let lines: Vec<serde_json::Value> = logs
            .1
            .borrow()
            .iter()
            .filter(|l| l["name"] == "JOB" || l["name"] == "ADA")
            .cloned()
            .collect();
        report.check(&job, &server, &state, &serde_json::Value::Array(lines));
    }
    report.finish();
}
