//! The adaptor corpus (`tests/adaptors/` at the workspace root) through real engine children:
//! each job is a one-step plan with its adaptor (`@openfn/language-common` or
//! `@openfn/language-http` at the versions in tests/adaptor-versions, installed from the npm
//! registry by openfn-repo into a repo cached
//! under CARGO_TARGET_TMPDIR), compiled and run by the child with the node host, against the
//! same deterministic HTTP server the recorder used. Each final state and the job's log lines
//! (`JOB` and `ADA`) must equal the recorded `NN-name.expected.json` and `NN-name.logs.json`
//! (the kit's compiler and runtime on node); jobs listed in `KNOWN_FAILURES` must fail and all
//! others pass.

#[path = "../../../tests/adaptors/harness.rs"]
mod harness;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use openfn_engine::{ChildCommand, Engine, EngineConfig, EngineEvent, Input, RunOptions};
use openfn_repo::{Installed, RegistryConfig, Repo, Specifier};
use serde_json::{Value, json};
use support::{events_within, final_state, no_resolvers, test_config, xp};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

/// The pinned versions (tests/adaptor-versions).
fn specs() -> Vec<Specifier> {
    [adaptor_versions::COMMON, adaptor_versions::HTTP]
        .into_iter()
        .map(|name| Specifier::new(name, Some(adaptor_versions::version(name))))
        .collect()
}

/// The corpus recorder (tests/adaptors/package.json) installs exactly the pinned versions, so
/// the expected states and these tests see the same adaptors.
#[test]
fn the_recorder_installs_the_pinned_versions() {
    let text = include_str!("../../../tests/adaptors/package.json");
    let package: serde_json::Value = serde_json::from_str(text).expect("package.json");
    for name in [adaptor_versions::COMMON, adaptor_versions::HTTP] {
        assert_eq!(
            package["dependencies"][name].as_str(),
            Some(adaptor_versions::version(name)),
            "tests/adaptors/package.json must pin {name} as tests/adaptor-versions does"
        );
    }
}

/// The repo with the real adaptors, installed once per build (staged, then renamed into place,
/// since test processes run in parallel).
async fn repo() -> (PathBuf, Vec<Installed>) {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("engine-adaptor-repo");
    if let Ok(repo) = Repo::open(&base, RegistryConfig::from_env()) {
        let found: Vec<Installed> = specs().iter().filter_map(|s| repo.resolve(s)).collect();
        if found.len() == specs().len() {
            return (base, found);
        }
    }
    let staging = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("engine-adaptor-repo.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let repo = Repo::open(&staging, RegistryConfig::from_env()).expect("open repo");
    repo.install(&specs()).await.expect("install adaptors");
    if std::fs::rename(&staging, &base).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let repo = Repo::open(&base, RegistryConfig::from_env()).expect("open repo");
    let found = specs().iter().filter_map(|s| repo.resolve(s)).collect();
    (base, found)
}

/// The job's and the adaptor's log lines, in order, as `[{name, level, message}]`.
fn log_lines(events: &[EngineEvent]) -> Value {
    let lines = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::WorkflowLog { log, .. } if log.name == "JOB" || log.name == "ADA" => {
                let message: Value = serde_json::from_str(log.message.get()).unwrap_or(Value::Null);
                Some(json!({"name": log.name, "level": log.level, "message": message}))
            }
            _ => None,
        })
        .collect();
    Value::Array(lines)
}

#[tokio::test]
async fn corpus_matches_node_and_the_kit_through_engine_children() {
    let (repo_dir, installed) = repo().await;
    let engine = Engine::new(EngineConfig {
        capacity: 2,
        repo_dir,
        memory_limit_mb: 256,
        // The kit runtime's default (the recorder ran it); the worker also drops `response`.
        state_props_to_remove: vec!["configuration".into()],
        run_timeout_ms: 30_000,
        kill_grace: Duration::from_millis(500),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        ..test_config()
    })
    .expect("engine");
    let server = harness::Server::start();
    let jobs = harness::jobs(&server);
    let mut handles = Vec::new();
    for job in &jobs {
        let adaptor = &installed[usize::from(job.http)];
        let plan = json!({
            "id": job.name,
            "workflow": {"steps": [{
                "id": "job",
                "expression": job.source,
                "adaptors": [format!("{}@{}", adaptor.name, adaptor.version)],
            }]},
            "options": {},
        });
        let input = match &job.input {
            Some(v) => Input::Value(serde_json::value::to_raw_value(v).expect("input state json")),
            None => Input::Empty,
        };
        handles.push(engine.execute(xp(plan), input, RunOptions::default(), no_resolvers()));
    }
    let mut report = harness::Report::default();
    for (job, handle) in jobs.iter().zip(handles) {
        let events: Vec<EngineEvent> = events_within(handle, 120).await;
        let state = final_state(&events).unwrap_or_else(|| {
            let error = support::workflow_error(&events);
            json!({"workflowError": format!("{error:?}")})
        });
        report.check(job, &server, &state, &log_lines(&events));
    }
    report.finish();
}
