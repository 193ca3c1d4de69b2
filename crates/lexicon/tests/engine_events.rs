//! Engine events: the `{event, payload}` shape (snapshots), round-trips, helpers, bad input.

use openfn_lexicon::Error;
use openfn_lexicon::engine::{
    Autoinstall, EngineEvent, JobComplete, JobError, JobErrorInfo, JobStart, LogMessage, Mem,
    RuntimeEvent, WorkflowComplete, WorkflowError, WorkflowLog, WorkflowStart,
};
use openfn_lexicon::error::Severity;
use openfn_lexicon::log::Level;
use serde_json::{Map, json};

fn events() -> Vec<EngineEvent> {
    let mut versions = Map::new();
    versions.insert("engine".into(), json!("0.1.0"));
    versions.insert("@openfn/language-common".into(), json!(["3.3.4"]));
    vec![
        EngineEvent::WorkflowStart(WorkflowStart {
            workflow_id: "r1".into(),
            thread_id: Some(1),
            versions,
            time: "1763798400123456789".into(),
        }),
        EngineEvent::JobStart(JobStart {
            workflow_id: "r1".into(),
            job_id: "a".into(),
            thread_id: Some(1),
            time: "1763798400123456789".into(),
        }),
        EngineEvent::JobComplete(JobComplete {
            workflow_id: "r1".into(),
            job_id: "a".into(),
            thread_id: Some(1),
            state: json!({"data": {"x": 1}}),
            duration: 12,
            next: vec!["b".into()],
            mem: Mem {
                job: 100,
                system: 200,
                peak: None,
            },
            redacted: None,
            time: "1763798400123456789".into(),
        }),
        EngineEvent::JobError(JobError {
            workflow_id: "r1".into(),
            job_id: "b".into(),
            thread_id: Some(1),
            state: json!({"errors": {"b": {"name": "JobError", "message": "boom"}}}),
            error: JobErrorInfo {
                name: "JobError".into(),
                message: "boom".into(),
                kind: None,
                subtype: None,
                severity: Some(Severity::Fail),
                extra: Map::new(),
            },
            duration: 3,
            next: vec![],
            time: "1763798400123456789".into(),
        }),
        EngineEvent::WorkflowLog(WorkflowLog {
            workflow_id: "r1".into(),
            thread_id: Some(1),
            level: Level::Info,
            name: "JOB".into(),
            message: LogMessage::Text(r#"["hello",{"a":1}]"#.into()),
            time: "1763798400123456789".into(),
            redacted: None,
        }),
        EngineEvent::WorkflowComplete(WorkflowComplete {
            workflow_id: "r1".into(),
            thread_id: Some(1),
            duration: 40,
            state: json!({"data": {}}),
            time: "1763798400123456789".into(),
        }),
        EngineEvent::WorkflowError(WorkflowError {
            workflow_id: "r1".into(),
            thread_id: None,
            kind: "TimeoutError".into(),
            message: "Workflow failed to return within 100ms".into(),
            severity: Severity::Kill,
        }),
        EngineEvent::AutoinstallError(Autoinstall {
            workflow_id: "r1".into(),
            module: "@openfn/language-nope".into(),
            version: "1.0.0".into(),
            duration: 5,
            message: Some("not found".into()),
        }),
    ]
}

#[test]
fn engine_event_shapes() {
    insta::assert_json_snapshot!(events());
}

#[test]
fn engine_events_round_trip_and_name_themselves() {
    for event in events() {
        let text = serde_json::to_string(&event).unwrap();
        let back = EngineEvent::from_json_str(&text).unwrap();
        assert_eq!(back, event);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["event"], json!(event.name()));
        assert_eq!(event.workflow_id(), "r1");
    }
    let terminal: Vec<_> = events()
        .iter()
        .filter(|e| e.is_terminal())
        .map(EngineEvent::name)
        .collect();
    assert_eq!(terminal, ["workflow-complete", "workflow-error"]);
}

#[test]
fn workflow_error_severity_defaults_to_exception() {
    let event = EngineEvent::from_value(json!({
        "event": "workflow-error",
        "payload": {"workflowId": "r", "type": "ExecutionError", "message": "??"}
    }))
    .unwrap();
    let EngineEvent::WorkflowError(error) = event else {
        panic!("workflow-error expected")
    };
    assert_eq!(error.severity, Severity::Exception);
}

#[test]
fn log_messages_parse_back_to_arrays() {
    assert_eq!(
        LogMessage::Text(r#"["a",1]"#.into()).to_values(),
        vec![json!("a"), json!(1)]
    );
    assert_eq!(
        LogMessage::Text("not json".into()).to_values(),
        vec![json!("not json")]
    );
    assert_eq!(
        LogMessage::Values(vec![json!(true)]).to_values(),
        vec![json!(true)]
    );
    let EngineEvent::WorkflowLog(log) = &events()[4] else {
        panic!("log expected")
    };
    let line = log.line();
    assert_eq!(line.message, vec![json!("hello"), json!({"a": 1})]);
    assert_eq!(line.timestamp(), "1763798400123456");
}

#[test]
fn job_error_type_and_severity_rules() {
    let mut info = JobErrorInfo {
        name: "RuntimeError".into(),
        message: "TypeError: x".into(),
        kind: Some("RuntimeError".into()),
        subtype: Some("TypeError".into()),
        severity: None,
        extra: Map::new(),
    };
    assert_eq!(info.error_type(), "TypeError");
    assert_eq!(info.severity(), Severity::Crash);
    info.subtype = None;
    info.kind = Some("CompileError".into());
    assert_eq!(info.error_type(), "CompileError");
    info.kind = None;
    assert_eq!(info.error_type(), "RuntimeError");
}

#[test]
fn runtime_events_shape() {
    let event = RuntimeEvent::JobComplete {
        job_id: "a".into(),
        duration: 2,
        state: json!({}),
        next: vec!["b".into()],
        mem: Mem {
            job: 1,
            system: 2,
            peak: Some(3),
        },
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        value,
        json!({"event": "job-complete", "payload": {"jobId": "a", "duration": 2, "state": {}, "next": ["b"], "mem": {"job": 1, "system": 2, "peak": 3}}})
    );
    assert_eq!(
        serde_json::from_value::<RuntimeEvent>(value).unwrap(),
        event
    );
    let load = serde_json::to_value(RuntimeEvent::LoadState {
        job_id: "d1".into(),
        duration: 4,
    })
    .unwrap();
    assert_eq!(
        load,
        json!({"event": "load-state", "payload": {"jobId": "d1", "duration": 4}})
    );
}

#[test]
fn bad_engine_events_name_the_field() {
    let err = EngineEvent::from_value(json!({"event": "job-explode", "payload": {}})).unwrap_err();
    assert!(err.to_string().contains("job-explode"), "{err}");
    let err = EngineEvent::from_value(
        json!({"event": "job-start", "payload": {"workflowId": "r", "time": "1"}}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("jobId"), "{err}");
    let err = EngineEvent::from_value(json!({"event": "workflow-log", "payload": {"workflowId": "r", "level": "shout", "name": "JOB", "message": [], "time": "1"}})).unwrap_err();
    assert!(matches!(&err, Error::Decode { .. }), "{err}");
    assert!(err.to_string().contains("shout"), "{err}");
    let err = EngineEvent::from_json_str("{").unwrap_err();
    assert!(matches!(err, Error::Json { .. }), "{err}");
}
