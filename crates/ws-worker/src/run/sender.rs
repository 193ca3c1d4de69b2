//! The run's sender: drains the outbox in order, one push at a time, and decides what a
//! failed push means (§3.14 and the retry policy in the README).
//!
//! - `ok` reply: acknowledged; the event is never sent again.
//! - `error` reply: Lightning did not record the event, so sending it again cannot duplicate
//!   it. It is sent again after the same backoff, up to `--refused-retry-count` times (a
//!   refusal may be transient); then the refusal is final: logged, and the run goes on, as
//!   the kit does at once (`--refused-retry-count 0`). A `run:complete` refused that often is
//!   sent once more without `final_state`, with a fresh budget.
//! - no reply in time, or the connection dropped under the push: transient, retried within
//!   the budget (`--timeout-retry-count`, backoff capped by `--timeout-retry-delay`; see
//!   [`Patience`]). Past it the event is given up.
//!
//! So that what Lightning holds stays consistent when an event was refused or given up, the
//! sender never sends a `step:complete` whose `step:start` was refused, and drops references
//! (`input_dataclip_id`, `final_dataclip_id`) to a dataclip whose `step:complete` Lightning
//! did not accept.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{RunContext, Shared};
use crate::channel::{Channel, ChannelError, Patience};
use crate::outbox::Outgoing;
use crate::redact::Redactor;

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Acknowledged.
    Acked,
    /// Answered with an `error` reply past the refusal budget, or too large to send: final.
    Refused(String),
    /// No answer within the retry budget.
    GaveUp(String),
}

/// What Lightning has accepted so far, for the consistency rules above.
#[derive(Debug, Default)]
struct Record {
    /// `step:start`s refused: their `step:complete` is not sent.
    refused_steps: HashSet<String>,
    /// Output dataclips Lightning does not have (their `step:complete` was not accepted).
    missing_dataclips: HashSet<String>,
}

impl Record {
    /// Adjusts `payload` before it is sent; false when the event must not be sent at all.
    fn prepare(&mut self, event: &str, payload: &mut Value) -> bool {
        let Some(map) = payload.as_object_mut() else {
            return true;
        };
        let drop_ref = |map: &mut Map<String, Value>, key: &str, missing: &HashSet<String>| {
            if map
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|id| missing.contains(id))
            {
                map.remove(key);
            }
        };
        match event {
            "step:complete" => {
                let step = map.get("step_id").and_then(Value::as_str).unwrap_or("");
                if self.refused_steps.contains(step) {
                    tracing::error!(
                        step_id = step,
                        "step:complete not sent: Lightning refused this step's step:start"
                    );
                    self.lose_dataclip(map);
                    return false;
                }
            }
            "step:start" => drop_ref(map, "input_dataclip_id", &self.missing_dataclips),
            "run:complete" => drop_ref(map, "final_dataclip_id", &self.missing_dataclips),
            _ => {}
        }
        true
    }

    /// Records the outcome of a sent event.
    fn outcome(&mut self, event: &str, payload: &Value, sent: &Sent) {
        if *sent == Sent::Acked {
            return;
        }
        match event {
            "step:start" if matches!(sent, Sent::Refused(_)) => {
                if let Some(step) = payload.get("step_id").and_then(Value::as_str) {
                    self.refused_steps.insert(step.to_string());
                }
            }
            "step:complete" => {
                if let Some(map) = payload.as_object() {
                    self.lose_dataclip(map);
                }
            }
            _ => {}
        }
    }

    fn lose_dataclip(&mut self, map: &Map<String, Value>) {
        if let Some(id) = map.get("output_dataclip_id").and_then(Value::as_str) {
            self.missing_dataclips.insert(id.to_string());
        }
    }
}

/// Drains the outbox in order; returns whether `run:complete` was acknowledged.
pub(crate) async fn sender(
    ctx: Arc<RunContext>,
    channel: Arc<Channel>,
    shared: Arc<Shared>,
    redactor: Redactor,
    run_id: String,
) -> bool {
    let cfg = &ctx.config;
    let mut record = Record::default();
    loop {
        let notified = shared.notify.notified();
        let next = shared.with(|o| {
            let item = o.take(cfg.batch_logs, cfg.batch_limit);
            (item, o.is_closed())
        });
        let item = match next {
            (Some(item), _) => item,
            (None, true) => return false,
            (None, false) => {
                notified.await;
                continue;
            }
        };
        match item {
            Outgoing::Event { event, mut payload } => {
                redactor.redact_event(&mut payload);
                if !record.prepare(&event, &mut payload) {
                    ctx.metrics.inc_events_dropped();
                    continue;
                }
                let sent = send_event(&ctx, &channel, &event, &mut payload).await;
                record.outcome(&event, &payload, &sent);
                if event == "run:complete" {
                    return sent == Sent::Acked;
                }
            }
            Outgoing::Logs(lines) => {
                send_logs(&ctx, &channel, &shared, &redactor, &run_id, lines).await
            }
        }
    }
}

/// Sends log lines: one `run:batch_logs` (waiting up to the batch interval for more lines,
/// unless full or an event waits), or one `run:log` each.
async fn send_logs(
    ctx: &RunContext,
    channel: &Channel,
    shared: &Shared,
    redactor: &Redactor,
    run_id: &str,
    mut lines: Vec<Value>,
) {
    let cfg = &ctx.config;
    if cfg.batch_logs {
        let deadline = tokio::time::Instant::now() + cfg.batch_interval;
        while lines.len() < cfg.batch_limit {
            let notified = shared.notify.notified();
            let (more, blocked) = shared.with(|o| {
                let more = o.take_more_logs(cfg.batch_limit - lines.len());
                (
                    more,
                    (!o.is_empty() && !o.head_is_batchable_log()) || o.is_closed(),
                )
            });
            lines.extend(more);
            if blocked || lines.len() >= cfg.batch_limit {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let more = shared.with(|o| o.take_more_logs(cfg.batch_limit - lines.len()));
                lines.extend(more);
                break;
            }
        }
        for l in &mut lines {
            redact_line(redactor, l);
        }
        let mut payload = json!({ "run_id": run_id, "logs": lines });
        send_event(ctx, channel, "run:batch_logs", &mut payload).await;
    } else {
        for mut l in lines {
            redact_line(redactor, &mut l);
            if let Some(map) = l.as_object_mut() {
                let mut with_id = Map::new();
                with_id.insert("run_id".into(), json!(run_id));
                with_id.extend(std::mem::take(map));
                *map = with_id;
            }
            send_event(ctx, channel, "run:log", &mut l).await;
        }
    }
}

fn redact_line(redactor: &Redactor, line: &mut Value) {
    if let Some(m) = line.get_mut("message") {
        redactor.redact_value(m);
    }
}

/// The length of `value` as JSON, counted as it is encoded (no buffer).
fn encoded_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// The retry budget of one event push.
pub(crate) fn patience(ctx: &RunContext) -> Patience {
    Patience {
        retries: u32::try_from(ctx.config.timeout_retry_count).unwrap_or(u32::MAX),
        count_drops: true,
        max_delay: ctx.config.timeout_retry_delay,
    }
}

/// Pushes one event within the retry budgets (see the module docs). A `run:complete` refused
/// past its budget is sent once more without `final_state` (`payload` is edited then).
pub(crate) async fn send_event(
    ctx: &RunContext,
    channel: &Channel,
    event: &str,
    payload: &mut Value,
) -> Sent {
    let timeout = ctx.config.message_timeout;
    ctx.metrics.payload(event, encoded_len(payload));
    let budget = u32::try_from(ctx.config.refused_retry_count).unwrap_or(u32::MAX);
    let mut refusals = 0u32;
    loop {
        // (why, whether sending the same payload again could change the answer)
        let (refusal, retry) = match channel
            .request_with(event, payload.clone(), timeout, patience(ctx))
            .await
        {
            Ok(r) if r.is_ok() => return Sent::Acked,
            Ok(r) => (r.response_text(), true),
            Err(ChannelError::TooLarge(why)) => (why, false),
            Err(ChannelError::JoinRefused(why)) => (format!("join refused: {why}"), false),
            Err(e) => {
                tracing::error!(
                    "{event} given up: {e} (retry budget of {} spent)",
                    ctx.config.timeout_retry_count
                );
                ctx.metrics.inc_events_dropped();
                return Sent::GaveUp(e.to_string());
            }
        };
        if retry && refusals < budget {
            refusals += 1;
            let wait = patience(ctx).delay(refusals);
            tracing::warn!(
                "{event} refused by lightning: {refusal}; sending it again in {wait:?} \
                 (retry {refusals} of {budget})"
            );
            ctx.metrics.inc_event_retries();
            tokio::time::sleep(wait).await;
            continue;
        }
        if event == "run:complete"
            && let Some(map) = payload.as_object_mut()
            && map.remove("final_state").is_some()
        {
            tracing::warn!(
                "run:complete refused ({refusal}); sending it again without final_state"
            );
            ctx.metrics.inc_event_retries();
            refusals = 0;
            continue;
        }
        return refused(ctx, event, refusal);
    }
}

/// A final refusal: logged and counted.
fn refused(ctx: &RunContext, event: &str, refusal: String) -> Sent {
    tracing::error!("{event} refused by lightning: {refusal} (final: not sent again)");
    ctx.metrics.inc_events_dropped();
    Sent::Refused(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_the_json_length() {
        let value = json!({"a": [1, "x\n\u{e9}", null], "b": {"c": 2.5}});
        let bytes = serde_json::to_vec(&value).expect("encodes");
        assert_eq!(encoded_len(&value), bytes.len());
        assert_eq!(encoded_len(&json!({})), 2);
    }

    #[test]
    fn a_refused_step_start_keeps_its_step_complete_and_dataclip_out() {
        let mut r = Record::default();
        let start = json!({"step_id": "s1", "job_id": "j"});
        r.outcome("step:start", &start, &Sent::Refused("no".into()));
        let mut complete = json!({"step_id": "s1", "output_dataclip_id": "d1"});
        assert!(!r.prepare("step:complete", &mut complete));
        let mut next = json!({"step_id": "s2", "input_dataclip_id": "d1"});
        assert!(r.prepare("step:start", &mut next));
        assert!(next.get("input_dataclip_id").is_none());
        let mut done = json!({"final_dataclip_id": "d1", "reason": "success"});
        assert!(r.prepare("run:complete", &mut done));
        assert!(done.get("final_dataclip_id").is_none());
    }

    #[test]
    fn a_step_complete_not_accepted_drops_references_to_its_dataclip() {
        let mut r = Record::default();
        let complete = json!({"step_id": "s1", "output_dataclip_id": "d1"});
        r.outcome("step:complete", &complete, &Sent::GaveUp("timeout".into()));
        let mut done = json!({"final_dataclip_id": "d1"});
        assert!(r.prepare("run:complete", &mut done));
        assert!(done.get("final_dataclip_id").is_none());
        // a step:start given up (not refused) may have been recorded: its complete still goes
        r.outcome(
            "step:start",
            &json!({"step_id": "s2"}),
            &Sent::GaveUp("t".into()),
        );
        assert!(r.prepare("step:complete", &mut json!({"step_id": "s2"})));
        // acknowledged events change nothing
        r.outcome("step:start", &json!({"step_id": "s3"}), &Sent::Acked);
        assert!(r.prepare(
            "step:complete",
            &mut json!({"step_id": "s3", "output_dataclip_id": "d3"})
        ));
        let mut next = json!({"input_dataclip_id": "d3"});
        assert!(r.prepare("step:start", &mut next));
        assert_eq!(next["input_dataclip_id"], "d3");
    }
}
