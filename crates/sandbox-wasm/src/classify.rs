//! The guest's errors as the kit's error classes, the way the native tier classifies them
//! (crates/runtime/src/runner/classify.rs): TypeError/RangeError → RuntimeError (fail),
//! ReferenceError/SyntaxError → RuntimeCrash, EvalError → SecurityError, anything else thrown
//! → JobError (fail); limits the host enforces → TimeoutError / OOMError / StateTooLargeError
//! (kill). Messages keep QuickJS' wording (the native tier translates some to V8's).

use openfn_lexicon::error::{ErrorClass, SerializedError};

use crate::message::GuestError;

/// The text of the error an import raises in the guest (must match the guest's).
pub const IMPORT_REFUSED: &str = "imports are not supported on the wasm tier yet";

/// The kit error for what the guest reported.
pub fn classify(e: &GuestError) -> SerializedError {
    let ctor = e.ctor.as_deref().unwrap_or("");
    let mut out = match (ctor, e.name.as_deref()) {
        (_, _) if e.message.contains(IMPORT_REFUSED) => {
            SerializedError::new(&ErrorClass::ImportError, e.message.clone())
        }
        ("", Some(name @ ("InvalidExportsError" | "InvalidOperationError" | "ExitError"))) => {
            SerializedError::new(&ErrorClass::from_name(name), e.message.clone())
        }
        ("TypeError" | "RangeError", _) => with_subtype(ErrorClass::RuntimeError, ctor, e),
        ("ReferenceError" | "SyntaxError", _) => with_subtype(ErrorClass::RuntimeCrash, ctor, e),
        ("EvalError", _) => SerializedError::new(
            &ErrorClass::SecurityError,
            "Illegal eval statement detected",
        ),
        ("InternalError", _) if e.message == "out of memory" => oom(),
        _ => SerializedError::new(&ErrorClass::JobError, e.message.clone()),
    };
    if let Some(stack) = &e.stack {
        out.extra.insert("stack".into(), stack.clone().into());
    }
    if let Some(i) = e.operation {
        out.extra.insert("operation".into(), i.into());
    }
    out
}

fn with_subtype(class: ErrorClass, ctor: &str, e: &GuestError) -> SerializedError {
    let mut out = SerializedError::new(&class, format!("{ctor}: {}", e.message));
    out.subtype = Some(ctor.to_owned());
    out
}

/// `OOMError`: the instance's memory reached its cap.
pub fn oom() -> SerializedError {
    SerializedError::new(&ErrorClass::OomError, "Run exceeded maximum memory usage")
}

/// `TimeoutError`: the run used up its fuel.
pub fn timeout(fuel: u64) -> SerializedError {
    SerializedError::new(
        &ErrorClass::TimeoutError,
        format!("Job used more than its CPU budget ({fuel} fuel)"),
    )
}

/// `StateTooLargeError`: the guest's messages exceeded the output cap.
pub fn too_large(limit: usize) -> SerializedError {
    SerializedError::new(
        &ErrorClass::StateTooLargeError,
        format!("State exceeds the limit of {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use openfn_lexicon::error::Severity;

    fn thrown(ctor: Option<&str>, message: &str) -> GuestError {
        GuestError {
            phase: "run".into(),
            ctor: ctor.map(str::to_owned),
            name: None,
            message: message.into(),
            stack: None,
            operation: Some(0),
        }
    }

    #[test]
    fn classes_follow_the_native_tier() {
        let e = classify(&thrown(Some("Error"), "boom"));
        assert_eq!((e.name.as_str(), e.severity), ("JobError", Severity::Fail));
        assert_eq!(e.message, "boom");
        let e = classify(&thrown(Some("TypeError"), "x is not a function"));
        assert_eq!(e.name, "RuntimeError");
        assert_eq!(e.message, "TypeError: x is not a function");
        assert_eq!(e.subtype.as_deref(), Some("TypeError"));
        let e = classify(&thrown(Some("ReferenceError"), "y is not defined"));
        assert_eq!(
            (e.name.as_str(), e.severity),
            ("RuntimeCrash", Severity::Crash)
        );
        let e = classify(&thrown(None, "\"a string\""));
        assert_eq!(e.name, "JobError");
        let e = classify(&thrown(
            Some("Error"),
            &format!("Cannot import 'x': {IMPORT_REFUSED}"),
        ));
        assert_eq!(e.name, "ImportError");
        assert_eq!(
            classify(&thrown(Some("EvalError"), "no")).name,
            "SecurityError"
        );
    }
}
