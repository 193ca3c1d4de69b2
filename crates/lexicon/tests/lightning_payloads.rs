//! Worker→Lightning payloads: exact wire text (key order, absent keys), decoding by event
//! name, and bad input.

use openfn_lexicon::Error;
use openfn_lexicon::error::{ErrorClass, ExitReason, RunReason};
use openfn_lexicon::lightning::{
    BatchLogs, ClaimReply, ClaimRequest, ClaimedRun, DATACLIP_TOO_LARGE, Event, IdPayload, Mem,
    QueueJoin, RUN_COMPLETE_KEYS, RunComplete, RunJoin, RunLog, RunLogLine, RunStart, StepComplete,
    StepStart, WebhookResponse, WorkerPush, run_id_of_topic, run_topic,
};
use openfn_lexicon::log::{Level, LogLine};
use openfn_lexicon::phoenix::Frame;
use serde_json::{Value, json};

fn text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

/// Serialises, checks the text, then decodes the text back through `WorkerPush::decode` and
/// checks it is the same push.
fn check(push: WorkerPush, expected: &str) {
    let payload = push.to_payload();
    assert_eq!(payload.to_string(), expected);
    let event = push.event().as_str();
    let back = WorkerPush::decode(event, serde_json::from_str(expected).unwrap()).unwrap();
    assert_eq!(back, push);
}

fn step_complete_success() -> StepComplete {
    StepComplete {
        step_id: "S1".into(),
        job_id: "j1".into(),
        mem: Some(Mem {
            job: 100,
            system: 200,
            peak: None,
        }),
        duration: Some(12),
        thread_id: Some(json!(1)),
        timestamp: Some("1763798400123456".into()),
        output_dataclip_error: None,
        output_dataclip_id: Some("D1".into()),
        output_dataclip: Some(r#"{"data":{"x":1}}"#.into()),
        exit: ExitReason::success(),
        webhook_response: None,
    }
}

#[test]
fn claim_and_queue_join() {
    check(
        WorkerPush::Claim(ClaimRequest {
            demand: 1,
            worker_name: None,
            queues: Some(vec!["manual".into(), "*".into()]),
        }),
        r#"{"demand":1,"worker_name":null,"queues":["manual","*"]}"#,
    );
    let join: QueueJoin =
        serde_json::from_str(r#"{"capacity":5,"queues":{"manual>*":5}}"#).unwrap();
    assert_eq!(join.capacity, 5);
    assert_eq!(text(&join), r#"{"capacity":5,"queues":{"manual>*":5}}"#);
    let reply: ClaimReply =
        serde_json::from_value(json!({"runs": [{"id": "r2", "token": "t"}]})).unwrap();
    assert_eq!(
        reply.runs,
        [ClaimedRun {
            id: "r2".into(),
            token: "t".into()
        }]
    );
    assert_eq!(text(&ClaimReply::default()), r#"{"runs":[]}"#);
    assert_eq!(
        text(&RunJoin {
            token: "jwt".into()
        }),
        r#"{"token":"jwt"}"#
    );
    let lenient: ClaimRequest = serde_json::from_value(json!({"worker_name": "w"})).unwrap();
    assert_eq!(lenient.demand, 1);
}

#[test]
fn fetch_payloads() {
    check(WorkerPush::FetchPlan, "{}");
    check(
        WorkerPush::FetchCredential(IdPayload { id: "c1".into() }),
        r#"{"id":"c1"}"#,
    );
    check(
        WorkerPush::FetchDataclip(IdPayload { id: "d1".into() }),
        r#"{"id":"d1"}"#,
    );
}

#[test]
fn run_start() {
    let mut versions = serde_json::Map::new();
    versions.insert("worker".into(), json!("1.25.0"));
    versions.insert("@openfn/language-common".into(), json!(["1.6.2"]));
    check(
        WorkerPush::RunStart(RunStart {
            versions,
            timestamp: Some("1763798400123456".into()),
        }),
        r#"{"versions":{"worker":"1.25.0","@openfn/language-common":["1.6.2"]},"timestamp":"1763798400123456"}"#,
    );
}

#[test]
fn step_start_with_and_without_input_dataclip() {
    let start = StepStart {
        step_id: "S1".into(),
        job_id: "j1".into(),
        timestamp: "1763798400123456".into(),
        input_dataclip_id: Some("d1".into()),
    };
    check(
        WorkerPush::StepStart(start.clone()),
        r#"{"step_id":"S1","job_id":"j1","timestamp":"1763798400123456","input_dataclip_id":"d1"}"#,
    );
    check(
        WorkerPush::StepStart(StepStart {
            input_dataclip_id: None,
            ..start
        }),
        r#"{"step_id":"S1","job_id":"j1","timestamp":"1763798400123456"}"#,
    );
}

#[test]
fn step_complete_success_in_observed_key_order() {
    check(
        WorkerPush::StepComplete(step_complete_success()),
        concat!(
            r#"{"step_id":"S1","job_id":"j1","mem":{"job":100,"system":200},"duration":12,"thread_id":1,"#,
            r#""timestamp":"1763798400123456","output_dataclip_id":"D1","output_dataclip":"{\"data\":{\"x\":1}}","#,
            r#""reason":"success","error_type":null,"error_message":null}"#
        ),
    );
}

#[test]
fn step_complete_fail_without_mem_and_with_webhook_response() {
    let push = StepComplete {
        mem: None,
        exit: ExitReason::from_error(&ErrorClass::JobError, "boom"),
        webhook_response: Some(WebhookResponse {
            status: Some(201),
            body: Some(json!({"ok": true})),
        }),
        ..step_complete_success()
    };
    check(
        WorkerPush::StepComplete(push),
        concat!(
            r#"{"step_id":"S1","job_id":"j1","duration":12,"thread_id":1,"timestamp":"1763798400123456","#,
            r#""output_dataclip_id":"D1","output_dataclip":"{\"data\":{\"x\":1}}","#,
            r#""reason":"fail","error_type":"JobError","error_message":"boom","#,
            r#""webhook_response":{"status":201,"body":{"ok":true}}}"#
        ),
    );
}

#[test]
fn step_complete_withheld_and_killed_forms() {
    let too_large = StepComplete {
        output_dataclip_error: Some(DATACLIP_TOO_LARGE.into()),
        output_dataclip_id: None,
        output_dataclip: None,
        ..step_complete_success()
    };
    check(
        WorkerPush::StepComplete(too_large),
        concat!(
            r#"{"step_id":"S1","job_id":"j1","mem":{"job":100,"system":200},"duration":12,"thread_id":1,"#,
            r#""timestamp":"1763798400123456","output_dataclip_error":"DATACLIP_TOO_LARGE","#,
            r#""reason":"success","error_type":null,"error_message":null}"#
        ),
    );
    let killed = StepComplete {
        step_id: "S2".into(),
        job_id: "j2".into(),
        mem: None,
        duration: None,
        thread_id: None,
        timestamp: None,
        output_dataclip_error: None,
        output_dataclip_id: Some("D2".into()),
        output_dataclip: Some("{}".into()),
        exit: ExitReason::from_error(
            &ErrorClass::TimeoutError,
            "Workflow failed to return within 100ms",
        ),
        webhook_response: None,
    };
    check(
        WorkerPush::StepComplete(killed),
        concat!(
            r#"{"step_id":"S2","job_id":"j2","output_dataclip_id":"D2","output_dataclip":"{}","#,
            r#""reason":"kill","error_type":"TimeoutError","error_message":"Workflow failed to return within 100ms"}"#
        ),
    );
}

fn log_line(step: Option<&str>) -> RunLogLine {
    RunLogLine {
        message: vec![json!("hello"), json!({"a": 1})],
        source: "JOB".into(),
        level: Level::Info,
        timestamp: "1763798400123456".into(),
        step_id: step.map(str::to_owned),
    }
}

#[test]
fn run_log_and_batch_logs() {
    check(
        WorkerPush::RunLog(RunLog {
            run_id: "r2".into(),
            line: log_line(Some("S1")),
        }),
        r#"{"run_id":"r2","message":["hello",{"a":1}],"source":"JOB","level":"info","timestamp":"1763798400123456","step_id":"S1"}"#,
    );
    check(
        WorkerPush::RunBatchLogs(BatchLogs {
            run_id: "r2".into(),
            logs: vec![log_line(None), log_line(Some("S1"))],
        }),
        concat!(
            r#"{"run_id":"r2","logs":[{"message":["hello",{"a":1}],"source":"JOB","level":"info","timestamp":"1763798400123456"},"#,
            r#"{"message":["hello",{"a":1}],"source":"JOB","level":"info","timestamp":"1763798400123456","step_id":"S1"}]}"#
        ),
    );
}

#[test]
fn run_log_line_from_engine_log_line() {
    let line = LogLine::from_json_str(
        r#"{"level":"info","name":"JOB","message":["hola"],"time":"1763798400123456789"}"#,
    )
    .unwrap();
    let out = RunLogLine::from_log_line(&line, Some("S1"));
    assert_eq!(
        text(&out),
        r#"{"message":["hola"],"source":"JOB","level":"info","timestamp":"1763798400123456","step_id":"S1"}"#
    );
}

#[test]
fn run_complete_both_shapes() {
    check(
        WorkerPush::RunComplete(RunComplete::completed(
            "1763798400123456".into(),
            json!({"j2": {"data": {}}, "j3": {"x": 1}}),
            ExitReason::from_error(&ErrorClass::JobError, "boom"),
            None,
        )),
        r#"{"timestamp":"1763798400123456","final_state":{"j2":{"data":{}},"j3":{"x":1}},"reason":"fail","error_type":"JobError","error_message":"boom"}"#,
    );
    check(
        WorkerPush::RunComplete(RunComplete::completed(
            "1763798400123456".into(),
            json!({"data": 1}),
            ExitReason::success(),
            Some("D9".into()),
        )),
        r#"{"timestamp":"1763798400123456","final_state":{"data":1},"reason":"success","error_type":null,"error_message":null,"final_dataclip_id":"D9"}"#,
    );
    check(
        WorkerPush::RunComplete(RunComplete::errored(ExitReason::from_error(
            &ErrorClass::DataClipError,
            "Failed to load dataclip d1: [fetch:dataclip] not_found",
        ))),
        r#"{"reason":"exception","error_type":"DataClipError","error_message":"Failed to load dataclip d1: [fetch:dataclip] not_found"}"#,
    );
    // A null final state is kept, not dropped.
    check(
        WorkerPush::RunComplete(RunComplete::completed(
            "1".into(),
            Value::Null,
            ExitReason::success(),
            None,
        )),
        r#"{"timestamp":"1","final_state":null,"reason":"success","error_type":null,"error_message":null}"#,
    );
    // Every key we can emit is one the mock accepts.
    let full = RunComplete::completed(
        "1".into(),
        json!({}),
        ExitReason::success(),
        Some("d".into()),
    );
    let value = serde_json::to_value(&full).unwrap();
    for key in value.as_object().unwrap().keys() {
        assert!(RUN_COMPLETE_KEYS.contains(&key.as_str()), "{key}");
    }
}

#[test]
fn pushes_travel_in_frames() {
    let push = WorkerPush::FetchCredential(IdPayload { id: "c1".into() });
    let frame = push.to_frame(&run_topic("r2"), Some("6"), "9");
    let wire = frame.encode_text().unwrap();
    assert_eq!(wire, r#"["6","9","run:r2","fetch:credential",{"id":"c1"}]"#);
    let back = Frame::decode_text(&wire).unwrap();
    assert_eq!(run_id_of_topic(&back.topic), Some("r2"));
    let Frame {
        event,
        payload: openfn_lexicon::phoenix::Payload::Json(payload),
        ..
    } = back
    else {
        panic!("json payload expected")
    };
    assert_eq!(WorkerPush::decode(&event, payload).unwrap(), push);
}

#[test]
fn event_names() {
    for event in Event::ALL {
        assert_eq!(event.as_str().parse::<Event>().unwrap(), event);
        assert_eq!(event.to_string(), event.as_str());
    }
    let err = "run:explode".parse::<Event>().unwrap_err();
    assert_eq!(err.to_string(), "unknown event `run:explode`");
}

#[test]
fn bad_payloads_name_the_event_and_field() {
    let err = WorkerPush::decode("run:explode", json!({})).unwrap_err();
    assert!(
        matches!(err, Error::UnknownEvent(ref e) if e == "run:explode"),
        "{err}"
    );
    let err = WorkerPush::decode("work-available", json!({})).unwrap_err();
    assert!(matches!(err, Error::UnknownEvent(_)), "{err}");

    let err = WorkerPush::decode("step:start", json!({"job_id": "j"})).unwrap_err();
    assert!(err.to_string().contains("step:start"), "{err}");
    assert!(err.to_string().contains("step_id"), "{err}");

    let err = WorkerPush::decode(
        "step:complete",
        json!({"step_id": "s", "job_id": "j", "reason": "great"}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("great"), "{err}");

    let err = WorkerPush::decode("run:batch_logs", json!({"run_id": "r", "logs": [{"message": [], "source": "JOB", "level": "loud", "timestamp": "1"}]})).unwrap_err();
    assert!(
        matches!(&err, Error::Decode { path, .. } if path == "logs[0].level"),
        "{err}"
    );

    let err = WorkerPush::decode("run:complete", json!({"timestamp": 5, "reason": "success"}))
        .unwrap_err();
    assert!(err.to_string().contains("timestamp"), "{err}");

    let err = WorkerPush::decode("fetch:dataclip", json!("d1")).unwrap_err();
    assert!(err.to_string().contains("fetch:dataclip"), "{err}");
}

#[test]
fn reasons_parse_and_print() {
    for (reason, name) in [
        (RunReason::Success, "success"),
        (RunReason::Fail, "fail"),
        (RunReason::Crash, "crash"),
        (RunReason::Kill, "kill"),
        (RunReason::Exception, "exception"),
        (RunReason::Cancel, "cancel"),
    ] {
        assert_eq!(serde_json::to_value(reason).unwrap(), json!(name));
        assert_eq!(
            serde_json::from_value::<RunReason>(json!(name)).unwrap(),
            reason
        );
        assert_eq!(reason.to_string(), name);
    }
}

#[test]
fn step_memory_peak_only_when_present() {
    let plain = Mem {
        job: 1,
        system: 2,
        peak: None,
    };
    assert_eq!(
        serde_json::to_string(&plain).unwrap(),
        r#"{"job":1,"system":2}"#
    );
    let profiled = Mem {
        peak: Some(3),
        ..plain
    };
    assert_eq!(
        serde_json::to_string(&profiled).unwrap(),
        r#"{"job":1,"system":2,"peak":3}"#
    );
    let back: Mem = serde_json::from_str(r#"{"job":1,"system":2}"#).unwrap();
    assert_eq!(back, plain);
}
