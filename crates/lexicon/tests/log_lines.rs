//! Log lines and timestamps: the kit's JSON line shape, ns → µs conversion, level filtering.

use std::time::{Duration, UNIX_EPOCH};

use openfn_lexicon::log::{
    Level, LogLevel, LogLine, micros_from_nanos, micros_string, nanos_minus_millis, nanos_string,
    now_micros, now_nanos, print_duration,
};
use serde_json::json;

#[test]
fn spec_line_round_trips() {
    let text = r#"{"level":"info","name":"JOB","message":["hola"],"time":"1763798400123456789"}"#;
    let line = LogLine::from_json_str(text).unwrap();
    assert_eq!(line.level, Level::Info);
    assert_eq!(line.message, vec![json!("hola")]);
    assert_eq!(line.to_json_string(), text);
    assert_eq!(line.timestamp(), "1763798400123456");
}

#[test]
fn bad_lines_name_the_field() {
    let err = LogLine::from_json_str(r#"{"level":"loud","name":"JOB","message":[],"time":"1"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("`level`"), "{err}");
    let err = LogLine::from_json_str(r#"{"level":"info","name":"JOB","message":"x","time":"1"}"#)
        .unwrap_err();
    assert!(err.to_string().contains("`message`"), "{err}");
    let err = LogLine::from_json_str(r#"{"level":"info","name":"JOB","message":[]}"#).unwrap_err();
    assert!(err.to_string().contains("time"), "{err}");
}

#[test]
fn timestamps() {
    let t = UNIX_EPOCH + Duration::from_nanos(1_763_798_400_123_456_789);
    assert_eq!(nanos_string(t), "1763798400123456789");
    assert_eq!(micros_string(t), "1763798400123456");
    assert_eq!(micros_from_nanos("1763798400123456789"), "1763798400123456");
    assert_eq!(micros_from_nanos("999"), "0");
    assert_eq!(micros_from_nanos(""), "0");
    assert_eq!(
        nanos_minus_millis("1763798400123456789", 10),
        "1763798400113456789"
    );
    assert_eq!(nanos_minus_millis("nope", 10), "nope");
    assert_eq!(now_nanos().len(), 19);
    assert_eq!(now_micros().len(), 16);
    let line = LogLine::now(Level::Warn, "R/T", vec![json!("x")]);
    assert_eq!(line.time.len(), 19);
}

#[test]
fn levels_and_filters() {
    assert!(LogLevel::Default.allows(Level::Warn));
    assert!(!LogLevel::Default.allows(Level::Info));
    assert!(LogLevel::None.allows(Level::Error));
    assert!(!LogLevel::None.allows(Level::Always));
    assert!(!LogLevel::NoneReally.allows(Level::Error));
    assert!(LogLevel::Debug.allows(Level::Debug));
    assert_eq!(
        serde_json::to_value(LogLevel::NoneReally).unwrap(),
        json!("none-really")
    );
    for level in [
        Level::Debug,
        Level::Info,
        Level::Always,
        Level::Success,
        Level::Warn,
        Level::Error,
    ] {
        assert_eq!(serde_json::to_value(level).unwrap(), json!(level.as_str()));
    }
}

#[test]
fn durations_read_like_the_kit() {
    assert_eq!(print_duration(Duration::from_millis(12)), "12ms");
    assert_eq!(print_duration(Duration::from_millis(1500)), "1.500s");
    assert_eq!(print_duration(Duration::from_millis(125_000)), "2m 5s");
}
