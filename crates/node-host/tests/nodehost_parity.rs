//! Parity with node: every job module in `tests/fixtures/jobs/` runs in the adaptor realm and
//! its default export must equal what node 20 produced for the same module against the same
//! adaptor install (`tests/fixtures/record.sh <adaptors dir>` recorded the `.expected.json`).

mod common;

use std::path::PathBuf;

#[tokio::test]
async fn jobs_match_node() {
    let dir = common::adaptors_dir();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jobs");
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mjs"))
        .collect();
    jobs.sort();
    assert_eq!(jobs.len(), 30, "found {} jobs", jobs.len());
    let mut failures = Vec::new();
    for job in &jobs {
        let name = job.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(job).unwrap();
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.join(format!("{name}.expected.json"))).unwrap(),
        )
        .unwrap();
        // a fresh realm per job, as the runtime gives each run its own adaptor realm
        let r = common::realm(common::policy_for(&dir), None).await;
        let at = dir
            .join("jobs")
            .join(format!("{name}.mjs"))
            .to_string_lossy()
            .into_owned();
        match r.run_at(&at, &source).await {
            Ok(v) if v == expected => {}
            Ok(v) => failures.push(format!("{name}: got {v}\nexpected {expected}")),
            Err(e) => failures.push(format!("{name}: error {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} jobs differ from node:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
}
