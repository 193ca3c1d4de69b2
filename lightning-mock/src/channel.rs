//! The `run:<id>` channel: every event a worker sends about a run, validated the way
//! Lightning validates it (required fields, reasons, `run:complete` keys, step ids belonging to
//! the run, log line rules), recorded, and answered (docs/protocol.md §3.4–§3.12, §5.3).

use openfn_lexicon::lightning::RUN_COMPLETE_KEYS;
use serde_json::{Map, Value, json};

use crate::state::{App, Inner, Run, RunStatus};

/// How to answer one run-channel push.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// `status: ok` with this response.
    Ok(Value),
    /// `status: error` with this response.
    Error(Value),
    /// `status: ok` as a binary reply frame with these bytes (`fetch:dataclip`).
    Binary(Vec<u8>),
    /// No reply at all (credential `%TIMEOUT%`).
    NoReply,
}

/// The events a run channel handles.
pub(crate) const RUN_EVENTS: &[&str] = &[
    "fetch:plan",
    "fetch:credential",
    "fetch:dataclip",
    "run:start",
    "step:start",
    "step:complete",
    "run:log",
    "run:batch_logs",
    "run:complete",
];

const REASONS: &[&str] = &["success", "fail", "crash", "exception", "kill", "cancel"];
const LEVELS: &[&str] = &["debug", "info", "warn", "error", "success", "always"];
const BLANK: &str = "This field can't be blank.";

fn errors(field: &str, message: &str) -> Outcome {
    Outcome::Error(json!({"errors": {field: [message]}}))
}

fn present(payload: &Value, key: &str) -> bool {
    payload.get(key).is_some_and(|v| !v.is_null())
}

/// Lightning's timestamps are microsecond epochs, as digit strings or integers; missing is
/// fine (defaulted to now).
fn valid_timestamp(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => {
            !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())
        }
        Some(Value::Number(n)) => n.is_u64(),
        Some(_) => false,
    }
}

/// Checks `reason`, `error_type` and `timestamp` shared by step:complete and run:complete.
fn check_reason(payload: &Value) -> Option<Outcome> {
    let reason = match payload.get("reason") {
        None | Some(Value::Null) => return Some(errors("reason", BLANK)),
        Some(Value::String(r)) if REASONS.contains(&r.as_str()) => r.as_str(),
        Some(_) => {
            return Some(errors(
                "reason",
                "is invalid: expected one of success, fail, crash, exception, kill, cancel",
            ));
        }
    };
    if reason == "success" && (present(payload, "error_type") || present(payload, "error_message"))
    {
        return Some(errors(
            "error_type",
            "must be null when the reason is success",
        ));
    }
    if !valid_timestamp(payload.get("timestamp")) {
        return Some(errors(
            "timestamp",
            "is invalid: expected microseconds since the epoch",
        ));
    }
    None
}

/// Validates one log line; returns its field errors (empty when valid).
fn log_line_errors(line: &Value, inner: &Inner, run_id: &str) -> Map<String, Value> {
    let mut errs = Map::new();
    let mut add = |field: &str, message: &str| {
        errs.insert(field.to_owned(), json!([message]));
    };
    if !line.is_object() {
        add("message", "is invalid: a log line must be an object");
        return errs;
    }
    if !present(line, "message") {
        add("message", BLANK);
    }
    match line.get("source") {
        Some(Value::String(s)) if s.is_empty() => add("source", BLANK),
        Some(Value::String(s)) if s.chars().count() > 8 => {
            add("source", "should be at most 8 character(s)");
        }
        Some(Value::String(_)) => {}
        None | Some(Value::Null) => add("source", BLANK),
        Some(_) => add("source", "is invalid"),
    }
    match line.get("level") {
        Some(Value::String(l)) if LEVELS.contains(&l.as_str()) => {}
        None | Some(Value::Null) => add("level", BLANK),
        Some(_) => add(
            "level",
            "is invalid: expected one of debug, info, warn, error, success, always",
        ),
    }
    if !present(line, "timestamp") {
        add("timestamp", BLANK);
    } else if !valid_timestamp(line.get("timestamp")) {
        add(
            "timestamp",
            "is invalid: expected microseconds since the epoch",
        );
    }
    if let Some(step_id) = line.get("step_id").filter(|v| !v.is_null()) {
        let belongs = step_id.as_str().is_some_and(|id| {
            inner.runs.get(run_id).is_some_and(|run| {
                run.steps
                    .iter()
                    .any(|s| s.get("step_id").and_then(Value::as_str) == Some(id))
            })
        });
        if !belongs {
            add("step_id", "does not belong to this run");
        }
    }
    errs
}

fn final_state_error(status: RunStatus) -> Outcome {
    errors(
        "state",
        &format!(
            "the run is already {}",
            if status == RunStatus::Lost {
                "lost"
            } else {
                "complete"
            }
        ),
    )
}

/// Acknowledges an exact replay of an accepted event without recording it again.
fn replayed(inner: &mut Inner, run_id: &str, response: Value) -> Outcome {
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.accepted.replays += 1;
    }
    tracing::info!(run = run_id, "replayed event acknowledged again");
    Outcome::Ok(response)
}

/// Handles one push on `run:<run_id>`. Events are published on the bus by the caller. An event
/// identical to one already accepted (a worker re-sending after a reconnect) is acknowledged
/// again without being recorded twice; an exact duplicate log line is stored once.
pub(crate) fn handle(app: &App, run_id: &str, event: &str, payload: &Value) -> Outcome {
    let mut guard = app.lock();
    let inner = &mut *guard;
    if !inner.runs.contains_key(run_id) {
        return not_found();
    }
    match event {
        "fetch:plan" => fetch_plan(inner, run_id),
        "fetch:credential" => fetch_credential(inner, payload),
        "fetch:dataclip" => fetch_dataclip(inner, run_id, payload),
        "run:start" => run_start(inner, run_id, payload),
        "step:start" => step_start(inner, run_id, payload),
        "step:complete" => step_complete(inner, run_id, payload, app.config.kit_quirks),
        "run:log" => run_log(inner, run_id, payload),
        "run:batch_logs" => run_batch_logs(inner, run_id, payload),
        "run:complete" => run_complete(inner, run_id, payload),
        other => Outcome::Error(json!({"reason": format!("unknown event {other}")})),
    }
}

fn not_found() -> Outcome {
    Outcome::Error(json!({"reason": "not_found"}))
}

fn invalid_timestamp() -> Outcome {
    errors(
        "timestamp",
        "is invalid: expected microseconds since the epoch",
    )
}

fn has_step(run: &Run, step_id: &str) -> bool {
    run.steps
        .iter()
        .any(|s| s.get("step_id").and_then(Value::as_str) == Some(step_id))
}

fn fetch_plan(inner: &Inner, run_id: &str) -> Outcome {
    match inner.runs.get(run_id) {
        Some(run) => Outcome::Ok(run.plan.clone()),
        None => not_found(),
    }
}

fn fetch_credential(inner: &Inner, payload: &Value) -> Outcome {
    match payload.get("id") {
        Some(Value::String(id)) if id == "%TIMEOUT%" => Outcome::NoReply,
        Some(Value::String(id)) => match inner.credentials.get(id) {
            Some(body) => Outcome::Ok(body.clone()),
            None => errors("id", "Credential not found!"),
        },
        _ => errors("id", BLANK),
    }
}

fn fetch_dataclip(inner: &Inner, run_id: &str, payload: &Value) -> Outcome {
    let Some(run) = inner.runs.get(run_id) else {
        return not_found();
    };
    let id = payload
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| run.plan.get("dataclip_id").and_then(Value::as_str));
    match id.and_then(|id| inner.dataclips.get(id)) {
        Some(body) => Outcome::Binary(body.to_string().into_bytes()),
        None => Outcome::Error(Value::String("not_found".to_owned())),
    }
}

fn run_start(inner: &mut Inner, run_id: &str, payload: &Value) -> Outcome {
    let Some(run) = inner.runs.get(run_id) else {
        return not_found();
    };
    if run.accepted.run_start.as_ref() == Some(payload) {
        return replayed(inner, run_id, Value::Null);
    }
    let status = run.status;
    if status != RunStatus::Claimed {
        let status = serde_json::to_value(status).unwrap_or(Value::Null);
        return errors(
            "state",
            &format!(
                "cannot start a run that is {}",
                status.as_str().unwrap_or("?")
            ),
        );
    }
    if !valid_timestamp(payload.get("timestamp")) {
        return invalid_timestamp();
    }
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.mark_started();
        run.accepted.run_start = Some(payload.clone());
    }
    Outcome::Ok(Value::Null)
}

fn step_start(inner: &mut Inner, run_id: &str, payload: &Value) -> Outcome {
    let Some(run) = inner.runs.get(run_id) else {
        return not_found();
    };
    if let Some(id) = payload.get("step_id").and_then(Value::as_str)
        && run.accepted.step_starts.get(id) == Some(payload)
    {
        return replayed(inner, run_id, json!({"step_id": id}));
    }
    if run.status.is_final() {
        return final_state_error(run.status);
    }
    let job_id = match payload.get("job_id") {
        None => return errors("job_id", BLANK),
        Some(Value::String(id)) => id.as_str(),
        Some(_) => return errors("job_id", "Job not found!"),
    };
    let job_known = run
        .plan
        .get("jobs")
        .and_then(Value::as_array)
        .is_some_and(|jobs| {
            jobs.iter()
                .any(|j| j.get("id").and_then(Value::as_str) == Some(job_id))
        });
    if !job_known {
        return errors("job_id", "Job not found!");
    }
    let Some(step_id) = payload.get("step_id").and_then(Value::as_str) else {
        return errors("step_id", BLANK);
    };
    if has_step(run, step_id) {
        return errors("step_id", "has already been taken");
    }
    if !valid_timestamp(payload.get("timestamp")) {
        return invalid_timestamp();
    }
    let step_id = step_id.to_owned();
    let entry = payload.as_object().cloned().unwrap_or_default();
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.steps.push(entry);
        run.accepted
            .step_starts
            .insert(step_id.clone(), payload.clone());
    }
    Outcome::Ok(json!({"step_id": step_id}))
}

fn step_complete(inner: &mut Inner, run_id: &str, payload: &Value, kit_quirks: bool) -> Outcome {
    let Some(run) = inner.runs.get(run_id) else {
        return not_found();
    };
    if let Some(id) = payload.get("step_id").and_then(Value::as_str)
        && run.accepted.step_completes.get(id) == Some(payload)
    {
        return replayed(inner, run_id, json!({"step_id": id}));
    }
    if run.status.is_final() {
        return final_state_error(run.status);
    }
    let Some(step_id) = payload.get("step_id").and_then(Value::as_str) else {
        return errors("step_id", BLANK);
    };
    if run.accepted.step_completes.contains_key(step_id) {
        return errors("step_id", "this step is already complete");
    }
    if !has_step(run, step_id) {
        return errors(
            "step_id",
            "does not belong to this run (no step:start seen)",
        );
    }
    if let Some(err) = check_reason(payload) {
        return err;
    }
    let dataclips_off = run
        .plan
        .get("options")
        .and_then(|o| o.get("output_dataclips"))
        == Some(&Value::Bool(false));
    if let Some(err) = check_output_dataclip(payload, dataclips_off, kit_quirks) {
        return err;
    }
    if let Err(err) = store_output_dataclip(inner, payload) {
        return err;
    }
    let step_id = step_id.to_owned();
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.accepted
            .step_completes
            .insert(step_id.clone(), payload.clone());
        if let Some(entry) = run.step_mut(&step_id)
            && let Some(fields) = payload.as_object()
        {
            for (k, v) in fields {
                entry.insert(k.clone(), v.clone());
            }
        }
    }
    Outcome::Ok(json!({"step_id": step_id}))
}

/// The output dataclip fields of a step:complete: required unless withheld as too large (or
/// turned off by the run's options).
fn check_output_dataclip(
    payload: &Value,
    dataclips_off: bool,
    kit_quirks: bool,
) -> Option<Outcome> {
    let too_large = present(payload, "output_dataclip_error");
    // The kit's mock wants an output dataclip even when it was withheld as too large.
    if too_large && kit_quirks && !present(payload, "output_dataclip") {
        return Some(Outcome::Error(Value::String(
            "no output_dataclip".to_owned(),
        )));
    }
    if !too_large {
        if !dataclips_off && !present(payload, "output_dataclip") {
            return Some(errors("output_dataclip", BLANK));
        }
        if !present(payload, "output_dataclip_id") {
            return Some(errors("output_dataclip_id", BLANK));
        }
    }
    None
}

/// Stores a step's output dataclip (a JSON text or value) under its id, when both are sent.
fn store_output_dataclip(inner: &mut Inner, payload: &Value) -> Result<(), Outcome> {
    if let (Some(Value::String(id)), Some(body)) = (
        payload.get("output_dataclip_id"),
        payload.get("output_dataclip"),
    ) {
        let parsed = match body {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(v) => v,
                Err(e) => {
                    return Err(errors("output_dataclip", &format!("is invalid JSON: {e}")));
                }
            },
            other => other.clone(),
        };
        inner.dataclips.insert(id.clone(), parsed);
    }
    Ok(())
}

fn run_log(inner: &mut Inner, run_id: &str, payload: &Value) -> Outcome {
    let errs = log_line_errors(payload, inner, run_id);
    if !errs.is_empty() {
        return Outcome::Error(json!({ "errors": errs }));
    }
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.append_log(payload);
    }
    Outcome::Ok(json!({"log_line_id": uuid::Uuid::new_v4().to_string()}))
}

fn run_batch_logs(inner: &mut Inner, run_id: &str, payload: &Value) -> Outcome {
    let Some(lines) = payload.get("logs").and_then(Value::as_array) else {
        return errors("logs", BLANK);
    };
    let per_line: Vec<Map<String, Value>> = lines
        .iter()
        .map(|line| log_line_errors(line, inner, run_id))
        .collect();
    if per_line.iter().any(|e| !e.is_empty()) {
        return Outcome::Error(json!({ "errors": { "logs": per_line } }));
    }
    if let Some(run) = inner.runs.get_mut(run_id) {
        for line in lines {
            run.append_log(line);
        }
    }
    Outcome::Ok(json!({}))
}

fn run_complete(inner: &mut Inner, run_id: &str, payload: &Value) -> Outcome {
    let Some(run) = inner.runs.get(run_id) else {
        return not_found();
    };
    if run.accepted.run_complete.as_ref() == Some(payload) {
        return replayed(inner, run_id, Value::Null);
    }
    let Some(fields) = payload.as_object() else {
        return errors("reason", BLANK);
    };
    let unexpected: Vec<&str> = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !RUN_COMPLETE_KEYS.contains(k))
        .collect();
    if !unexpected.is_empty() {
        return errors(
            "base",
            &format!("Unexpected keys: {}", unexpected.join(", ")),
        );
    }
    let status = run.status;
    if status.is_final() {
        return final_state_error(status);
    }
    if status == RunStatus::Queued {
        return errors("state", "cannot complete a run that is queued");
    }
    if let Some(err) = check_reason(payload) {
        return err;
    }
    if let Some(run) = inner.runs.get_mut(run_id) {
        run.reason = payload
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        run.error_type = payload.get("error_type").cloned();
        run.error_message = payload.get("error_message").cloned();
        run.final_state = payload.get("final_state").cloned();
        run.final_dataclip_id = payload.get("final_dataclip_id").cloned();
        run.accepted.run_complete = Some(payload.clone());
        run.mark_complete();
    }
    Outcome::Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert!(valid_timestamp(None));
        assert!(valid_timestamp(Some(&json!("1700000000000000"))));
        assert!(valid_timestamp(Some(&json!(1_700_000_000_000_000_u64))));
        assert!(!valid_timestamp(Some(&json!("2024-01-01"))));
        assert!(!valid_timestamp(Some(&json!(""))));
        assert!(!valid_timestamp(Some(&json!(-1))));
    }

    #[test]
    fn reasons() {
        assert_eq!(check_reason(&json!({"reason": "success"})), None);
        assert!(check_reason(&json!({})).is_some());
        assert!(check_reason(&json!({"reason": "ok"})).is_some());
        assert!(check_reason(&json!({"reason": "success", "error_type": "X"})).is_some());
        assert_eq!(
            check_reason(&json!({"reason": "fail", "error_type": "X", "error_message": "m"})),
            None
        );
    }
}
