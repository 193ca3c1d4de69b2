//! Error classes: the single class → severity → reason mapping (docs/protocol.md §4.3), and the
//! serialised error shapes the runtime tests assert (docs/execution.md §2.7).

use openfn_lexicon::error::{
    ErrorClass, ExitReason, Position, RunReason, SerializedError, Severity,
};
use serde_json::json;

#[test]
fn catalogue_severities() {
    let table = [
        ("JobError", "fail"),
        ("RuntimeError", "fail"),
        ("AdaptorError", "fail"),
        ("CompileError", "crash"),
        ("ValidationError", "crash"),
        ("ImportError", "crash"),
        ("RuntimeCrash", "crash"),
        ("InvalidExportsError", "crash"),
        ("InvalidOperationError", "crash"),
        ("EdgeConditionError", "crash"),
        ("InputError", "crash"),
        ("ExitError", "crash"),
        ("TimeoutError", "kill"),
        ("OOMError", "kill"),
        ("StateTooLargeError", "kill"),
        ("SecurityError", "kill"),
        ("AutoinstallError", "exception"),
        ("CredentialLoadError", "exception"),
        ("DataClipError", "exception"),
        ("ExecutionError", "exception"),
        ("ReferenceError", "crash"),
    ];
    for (name, severity) in table {
        let class = ErrorClass::from_name(name);
        assert_eq!(class.error_type(), name);
        assert_eq!(class.severity().as_str(), severity, "{name}");
        assert_eq!(
            serde_json::to_value(class.severity()).unwrap(),
            json!(severity)
        );
        assert_eq!(RunReason::from(class.severity()).as_str(), severity);
    }
    assert_eq!(ErrorClass::ALL.len(), table.len() - 1);
    assert_eq!(
        ErrorClass::from_name("ReferenceError"),
        ErrorClass::Other("ReferenceError".into())
    );
    assert!(!Severity::Fail.aborts_run());
    assert!(Severity::Kill.aborts_run());
}

#[test]
fn exit_reasons() {
    assert_eq!(
        serde_json::to_string(&ExitReason::success()).unwrap(),
        r#"{"reason":"success","error_type":null,"error_message":null}"#
    );
    let oom = ExitReason::from_error(&ErrorClass::OomError, "Run exceeded maximum memory usage");
    assert_eq!(
        serde_json::to_string(&oom).unwrap(),
        r#"{"reason":"kill","error_type":"OOMError","error_message":"Run exceeded maximum memory usage"}"#
    );
    let credential = ExitReason::from_error(
        &ErrorClass::CredentialLoadError,
        "Failed to load credential %TIMEOUT%: [fetch:credential] timeout",
    );
    assert_eq!(credential.reason, RunReason::Exception);
    // An explicit severity wins over the class default (e.g. ExecutionError downgraded to crash).
    let downgraded = ExitReason::with_severity(Severity::Crash, "ExecutionError", "uncaught");
    assert_eq!(downgraded.reason, RunReason::Crash);
}

#[test]
fn serialised_errors_from_the_runtime_tests() {
    let cases = [
        json!({"source": "runtime", "name": "JobError", "severity": "fail", "message": "test"}),
        json!({
            "source": "runtime", "name": "RuntimeError", "severity": "fail", "subtype": "TypeError",
            "message": "TypeError: Cannot read properties of undefined (reading 'y')",
            "pos": {"line": 1, "column": 28}
        }),
        json!({
            "details": {"code": 1234, "message": "adaptor err"}, "message": "adaptor err",
            "name": "AdaptorError", "source": "runtime", "severity": "fail", "line": 3, "operationName": "err"
        }),
        json!({
            "source": "runtime", "name": "AdaptorError", "severity": "fail", "message": "adaptor err",
            "step": "src", "pos": {"line": 4, "column": 20, "src": "        await err()(state);"}
        }),
    ];
    for case in cases {
        let error: SerializedError = serde_json::from_value(case.clone()).unwrap();
        assert_eq!(serde_json::to_value(&error).unwrap(), case);
    }
    let with_pos: SerializedError = serde_json::from_value(json!({
        "name": "RuntimeError", "severity": "fail", "message": "m", "pos": {"line": 2, "column": 11, "src": "fn((s) => z)"}
    }))
    .unwrap();
    assert_eq!(
        with_pos.pos,
        Some(Position {
            line: 2,
            column: 11,
            src: Some("fn((s) => z)".into())
        })
    );
    assert_eq!(with_pos.exit_reason().reason, RunReason::Fail);

    let built = SerializedError::new(&ErrorClass::JobError, "test");
    assert_eq!(
        serde_json::to_value(&built).unwrap(),
        json!({"source": "runtime", "name": "JobError", "severity": "fail", "message": "test"})
    );
    let bad = serde_json::from_value::<SerializedError>(
        json!({"name": "X", "severity": "meh", "message": ""}),
    );
    assert!(bad.is_err());
}
