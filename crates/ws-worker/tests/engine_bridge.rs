//! The worker's bridge to the engine (`EngineExecutor`) on its own, without a socket: a Lightning
//! plan and input bytes in, the worker's engine events out, with real engine children.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openfn_ws_worker::engine::EngineExecutor;
use openfn_ws_worker::executor::{
    BoxFuture, EngineEvent, Executor, Resolvers, RunOptions, RunRequest,
};
use serde_json::{Value, json};

/// Credentials from a map; records every id asked for.
#[derive(Default)]
struct Creds {
    asked: Mutex<Vec<String>>,
}

impl Resolvers for Creds {
    fn credential(&self, id: String) -> BoxFuture<'static, Result<Value, String>> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(id.clone());
        }
        Box::pin(async move {
            match id.as_str() {
                "c" => Ok(json!({"user": "u1"})),
                _ => Err(format!("no credential {id}")),
            }
        })
    }
}

fn executor() -> (EngineExecutor, tempfile::TempDir) {
    let repo = tempfile::tempdir().expect("repo");
    let mut config = support::worker_config("ws://127.0.0.1:9/worker", &[], &[]);
    config.repo_dir = Some(repo.path().to_path_buf());
    let executor =
        EngineExecutor::with_child(&config, Some(support::child_command())).expect("engine");
    (executor, repo)
}

fn options() -> RunOptions {
    RunOptions {
        run_timeout: Duration::from_secs(30),
        memory_limit_mb: 200,
        payload_limit_mb: 10.0,
        log_payload_limit_mb: None,
        sanitize: None,
        job_log_level: None,
        state_props_to_remove: vec!["configuration".into()],
    }
}

fn request(mut plan: Value, input: Option<&str>, options: RunOptions) -> RunRequest {
    // `fetch:plan` always has the run's id
    if plan.is_object() {
        plan["id"] = json!("r1");
    }
    RunRequest {
        run_id: "r1".into(),
        plan,
        input: input.map(|i| i.as_bytes().to_vec()),
        options,
        collections: None,
        monorepo_dir: None,
    }
}

/// Every event of one run, up to its end.
async fn run(
    executor: &EngineExecutor,
    request: RunRequest,
    creds: Arc<Creds>,
) -> Vec<EngineEvent> {
    let mut rx = executor.execute(request, creds);
    let mut out = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an event within 30 s");
        let Some(ev) = ev else { break };
        let end = matches!(
            ev,
            EngineEvent::WorkflowComplete { .. } | EngineEvent::WorkflowError { .. }
        );
        out.push(ev);
        if end {
            break;
        }
    }
    out
}

fn kinds(events: &[EngineEvent]) -> Vec<&'static str> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::WorkflowStart { .. } => Some("workflow-start"),
            EngineEvent::JobStart { .. } => Some("job-start"),
            EngineEvent::JobComplete { .. } => Some("job-complete"),
            EngineEvent::JobError { .. } => Some("job-error"),
            EngineEvent::WorkflowComplete { .. } => Some("workflow-complete"),
            EngineEvent::WorkflowError { .. } => Some("workflow-error"),
            EngineEvent::AdaptorInstalled { .. } => Some("adaptor-installed"),
            EngineEvent::Log { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn a_two_step_run_with_a_credential_and_an_input() {
    let (executor, _repo) = executor();
    let mut plan = support::job(
        "export default [s => { console.log('user', s.configuration.user); return { data: { n: s.data.n + 1, user: s.configuration.user } }; }]",
    );
    plan["jobs"][0]["credential_id"] = json!("c");
    plan["jobs"]
        .as_array_mut()
        .expect("jobs")
        .push(json!({"id": "j2", "adaptor": "", "body": "export default [s => { throw new Error('stop at ' + s.data.n); }]"}));
    plan["edges"].as_array_mut().expect("edges").push(json!({
        "id": "e2", "source_job_id": "j1", "target_job_id": "j2", "condition": "on_job_success", "enabled": true
    }));
    let creds = Arc::new(Creds::default());
    let events = run(
        &executor,
        request(plan, Some(r#"{"data":{"n":1}}"#), options()),
        creds.clone(),
    )
    .await;
    assert_eq!(
        kinds(&events),
        [
            "workflow-start",
            "job-start",
            "job-complete",
            "job-start",
            "job-error",
            "workflow-complete"
        ],
        "{events:#?}"
    );
    assert_eq!(*creds.asked.lock().expect("lock"), ["c"]);
    let steps: Vec<&EngineEvent> = events
        .iter()
        .filter(|e| !matches!(e, EngineEvent::Log { .. }))
        .collect();
    let Some(EngineEvent::JobComplete {
        job_id,
        state,
        next,
        thread_id,
        redacted,
        ..
    }) = steps.get(2)
    else {
        panic!("{events:#?}");
    };
    assert_eq!(job_id, "j1");
    assert_eq!(state, &json!({"data": {"n": 2, "user": "u1"}}));
    assert_eq!(next, &["j2"]);
    assert!(
        thread_id.as_ref().is_some_and(Value::is_u64),
        "{thread_id:?}"
    );
    assert!(!redacted);
    let Some(EngineEvent::JobError { error, .. }) = steps.get(4) else {
        panic!("{events:#?}");
    };
    assert_eq!(
        (
            error.severity.as_str(),
            error.error_type.as_str(),
            error.message.as_str()
        ),
        ("fail", "JobError", "stop at 2")
    );
    let logs: Vec<(&str, &Value)> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Log {
                source,
                message,
                timestamp,
                ..
            } => {
                assert!(timestamp.as_ref().is_some_and(|t| t.len() >= 16), "{e:?}");
                Some((source.as_str(), message))
            }
            _ => None,
        })
        .collect();
    assert!(logs.contains(&("JOB", &json!(["user", "u1"]))), "{logs:?}");
}

#[tokio::test]
async fn the_run_options_reach_the_engine() {
    let (executor, _repo) = executor();
    // payload limit 0: the step's output is flagged for withholding
    let events = run(
        &executor,
        request(
            support::job("export default [s => ({ data: { x: 1 } })]"),
            None,
            RunOptions {
                payload_limit_mb: 0.0,
                ..options()
            },
        ),
        Arc::new(Creds::default()),
    )
    .await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::JobComplete { redacted: true, .. })),
        "{events:#?}"
    );
    // the run timeout
    let events = run(
        &executor,
        request(
            support::job("export default [s => { while (true) {} }]"),
            None,
            RunOptions {
                run_timeout: Duration::from_millis(300),
                ..options()
            },
        ),
        Arc::new(Creds::default()),
    )
    .await;
    assert_eq!(
        events.last(),
        Some(&EngineEvent::WorkflowError {
            error_type: "TimeoutError".into(),
            message: "Workflow failed to return within 300ms".into(),
            severity: "kill".into(),
        })
    );
}

#[tokio::test]
async fn bad_plans_inputs_and_credentials_end_the_run_at_once() {
    let (executor, _repo) = executor();
    let events = run(
        &executor,
        request(json!({"jobs": "not a list"}), None, options()),
        Arc::new(Creds::default()),
    )
    .await;
    assert!(
        matches!(events.as_slice(), [EngineEvent::WorkflowError { error_type, severity, .. }]
            if error_type == "ExecutionError" && severity == "exception"),
        "{events:#?}"
    );
    let events = run(
        &executor,
        request(
            support::job("export default [s => s]"),
            Some("{not json"),
            options(),
        ),
        Arc::new(Creds::default()),
    )
    .await;
    assert!(
        matches!(events.as_slice(), [EngineEvent::WorkflowError { error_type, .. }]
            if error_type == "DataClipError"),
        "{events:#?}"
    );
    let mut plan = support::job("export default [s => s]");
    plan["jobs"][0]["credential_id"] = json!("missing");
    let events = run(
        &executor,
        request(plan, None, options()),
        Arc::new(Creds::default()),
    )
    .await;
    assert_eq!(
        events.last(),
        Some(&EngineEvent::WorkflowError {
            error_type: "CredentialLoadError".into(),
            message: "Failed to load credential missing: no credential missing".into(),
            severity: "exception".into(),
        }),
        "{events:#?}"
    );
}
