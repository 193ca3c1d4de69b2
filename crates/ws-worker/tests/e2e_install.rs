//! An adaptor the worker has to fetch from the npm registry is said in the run's log: one
//! `Installed adaptor <name>@<version> for this run in <s>` line after `run:start` (the kit
//! says nothing in the run, so a run that waited seconds for an install looked stuck), and
//! nothing on the next run, which finds it installed. Needs the npm registry, as the adaptor
//! corpus does.

mod support;

use std::time::Duration;

use openfn_lightning_mock::Config as MockConfig;
use serde_json::json;
use support::{Harness, job, start};

const INSTALL: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_fetched_adaptor_is_said_once_in_the_run_log() {
    let h = start(MockConfig::default(), &[]).await;
    let mut plan = job("fn(s => ({ data: { ok: true } }));");
    plan["jobs"][0]["adaptor"] = json!("@openfn/language-common@3.3.4");

    let first = h.mock.enqueue_run(plan.clone()).expect("enqueue");
    let run = h.wait_final(&first, INSTALL).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let logs = Harness::log_texts(&run);
    let installed: Vec<usize> = logs
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.starts_with("Installed adaptor @openfn/language-common@3.3.4 for this run in ")
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(installed.len(), 1, "{logs:#?}");
    let line = &logs[installed[0]];
    assert!(line.ends_with('s'), "{line}");
    let versions = logs
        .iter()
        .position(|l| l.starts_with("Versions:"))
        .expect("versions line");
    assert!(
        installed[0] > versions,
        "after run:start's lines: {logs:#?}"
    );

    let second = h.mock.enqueue_run(plan).expect("enqueue");
    let run = h.wait_final(&second, INSTALL).await;
    assert_eq!(run["reason"], "success", "{run:#}");
    let logs = Harness::log_texts(&run);
    assert!(
        !logs.iter().any(|l| l.starts_with("Installed adaptor")),
        "installed already: {logs:#?}"
    );
}
