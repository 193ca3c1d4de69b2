//! Fault injection for reliability tests: delayed replies, events rejected N times, sockets
//! dropped after N messages, and refused connections.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Faults to inject, as given on the command line or to `POST /faults`. Every field is
/// optional in JSON; fields left out keep their current value when posted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Delay every WebSocket reply by this many milliseconds (0: no delay).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_delay_ms: Option<u64>,
    /// Reply with an error to the next N messages of each named event (`run:start`, `claim`,
    /// `phx_join`, `heartbeat`, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reject: BTreeMap<String, u32>,
    /// Handle the next N messages of each named event but never reply to them (the reply is
    /// lost: the sender times out although the event was recorded).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub silence: BTreeMap<String, u32>,
    /// Drop (close without a close frame) the socket that handles the N-th next message,
    /// after handling it. One-shot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_after: Option<u64>,
    /// Refuse WebSocket upgrades (HTTP 503) for this many milliseconds from now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refuse_connections_ms: Option<u64>,
}

/// The live fault state kept by the server.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    reply_delay: Duration,
    reject: BTreeMap<String, u32>,
    silence: BTreeMap<String, u32>,
    drop_after: Option<u64>,
    refuse_until: Option<Instant>,
}

/// What to do with one incoming message.
pub(crate) struct Verdict {
    /// Reply with an injected error instead of handling the message.
    pub reject: bool,
    /// Close the socket after handling the message.
    pub drop_socket: bool,
    /// Handle the message but send no reply.
    pub silent: bool,
}

impl FaultState {
    /// Applies posted faults on top of the current ones.
    pub(crate) fn apply(&mut self, faults: &Faults) {
        if let Some(ms) = faults.reply_delay_ms {
            self.reply_delay = Duration::from_millis(ms);
        }
        for (counts, posted) in [
            (&mut self.reject, &faults.reject),
            (&mut self.silence, &faults.silence),
        ] {
            for (event, times) in posted {
                if *times == 0 {
                    counts.remove(event);
                } else {
                    counts.insert(event.clone(), *times);
                }
            }
        }
        if let Some(n) = faults.drop_after {
            self.drop_after = (n > 0).then_some(n);
        }
        if let Some(ms) = faults.refuse_connections_ms {
            self.refuse_until = (ms > 0).then(|| Instant::now() + Duration::from_millis(ms));
        }
    }

    /// Removes every fault.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The current reply delay.
    pub(crate) fn reply_delay(&self) -> Duration {
        self.reply_delay
    }

    /// Whether new connections are refused now.
    pub(crate) fn refusing(&self) -> bool {
        self.refuse_until
            .is_some_and(|until| Instant::now() < until)
    }

    /// Counts one incoming message with this event name.
    pub(crate) fn on_message(&mut self, event: &str) -> Verdict {
        let reject = count_down(&mut self.reject, event);
        let silent = !reject && count_down(&mut self.silence, event);
        let mut drop_socket = false;
        if let Some(left) = self.drop_after.as_mut() {
            *left -= 1;
            if *left == 0 {
                drop_socket = true;
                self.drop_after = None;
            }
        }
        Verdict {
            reject,
            drop_socket,
            silent,
        }
    }

    /// The state as JSON, for `GET /faults`.
    pub(crate) fn to_json(&self) -> Value {
        let refuse_ms = self
            .refuse_until
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        json!({
            "reply_delay_ms": u64::try_from(self.reply_delay.as_millis()).unwrap_or(u64::MAX),
            "reject": self.reject,
            "silence": self.silence,
            "drop_after": self.drop_after,
            "refuse_connections_ms": refuse_ms,
        })
    }
}

/// Takes one from `event`'s count; true if it had one.
fn count_down(counts: &mut BTreeMap<String, u32>, event: &str) -> bool {
    let Some(left) = counts.get_mut(event) else {
        return false;
    };
    *left = left.saturating_sub(1);
    if *left == 0 {
        counts.remove(event);
    }
    true
}

/// The error response of a rejected message.
pub(crate) fn rejection(event: &str) -> Value {
    json!({"errors": {"fault": [format!("injected fault: {event} rejected")]}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_counts_down() {
        let mut state = FaultState::default();
        state.apply(&Faults {
            silence: BTreeMap::from([("step:complete".to_owned(), 2)]),
            ..Faults::default()
        });
        let silent: Vec<bool> = ["step:complete", "x", "step:complete", "step:complete"]
            .into_iter()
            .map(|e| state.on_message(e).silent)
            .collect();
        assert_eq!(silent, [true, false, true, false]);
    }

    #[test]
    fn reject_counts_down_and_drop_is_one_shot() {
        let mut state = FaultState::default();
        state.apply(&Faults {
            reject: BTreeMap::from([("run:start".to_owned(), 2)]),
            drop_after: Some(3),
            ..Faults::default()
        });
        let verdicts: Vec<(bool, bool)> = ["run:start", "x", "run:start", "run:start", "x"]
            .into_iter()
            .map(|e| {
                let v = state.on_message(e);
                (v.reject, v.drop_socket)
            })
            .collect();
        assert_eq!(
            verdicts,
            [
                (true, false),
                (false, false),
                (true, true),
                (false, false),
                (false, false)
            ]
        );
    }
}
