//! The recent events the dashboard's events panel starts with: the last [`KEPT`] events (empty
//! claims left out), each with its time and its data as JSON text cut at [`DATA_CHARS`], so a
//! big final state costs no more than a small one.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

use serde_json::{Value, json};

/// How many events are kept.
pub(crate) const KEPT: usize = 100;

/// How much of an event's data is kept, in bytes of JSON text.
pub(crate) const DATA_CHARS: usize = 400;

/// One kept event.
#[derive(Debug, Clone)]
struct Entry {
    at_ms: u64,
    name: String,
    data: String,
}

/// The last events, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    entries: Mutex<VecDeque<Entry>>,
}

/// A writer that takes at most [`DATA_CHARS`] bytes, then refuses (which stops the
/// serializer early).
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = DATA_CHARS.saturating_sub(self.0.len());
        if room == 0 {
            return Err(std::io::Error::other("full"));
        }
        let n = room.min(buf.len());
        self.0.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `data` as JSON text, cut at [`DATA_CHARS`] bytes (on a character boundary) with `…`.
pub(crate) fn cut_json(data: &Value) -> String {
    let mut out = Capped(Vec::with_capacity(64));
    let complete = serde_json::to_writer(&mut out, data).is_ok() && out.0.len() < DATA_CHARS;
    let mut text = String::from_utf8_lossy(&out.0).into_owned();
    if !complete {
        while text.ends_with('\u{fffd}') {
            text.pop();
        }
        text.push('…');
    }
    text
}

impl History {
    /// Keeps an event (not empty claims: a polling worker would push everything else out).
    pub(crate) fn record(&self, at_ms: u64, name: &str, data: &Value) {
        if name == "claim" && data["payload"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        let entry = Entry {
            at_ms,
            name: name.to_owned(),
            data: cut_json(data),
        };
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The kept events, oldest first: `[{"at": <ms>, "name", "data": "<json text>"}]`.
    pub(crate) fn to_json(&self) -> Value {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Value::Array(
            entries
                .iter()
                .map(|e| json!({"at": e.at_ms, "name": e.name, "data": e.data}))
                .collect(),
        )
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_events_cut_short_without_empty_claims() {
        let h = History::default();
        h.record(1, "claim", &json!({"payload": []}));
        h.record(
            2,
            "run:complete",
            &json!({"payload": {"big": "é".repeat(1000)}}),
        );
        for i in 0..KEPT {
            h.record(3, "run:log", &json!({"payload": {"i": i}}));
        }
        let all = h.to_json();
        let all = all.as_array().expect("array");
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0]["data"], r#"{"payload":{"i":0}}"#);
        let h = History::default();
        h.record(
            2,
            "run:complete",
            &json!({"payload": {"big": "é".repeat(1000)}}),
        );
        let text = h.to_json()[0]["data"].as_str().expect("text").to_owned();
        assert!(
            text.ends_with('…') && text.len() <= DATA_CHARS + 3,
            "{text}"
        );
        assert!(!text.contains('\u{fffd}'));
    }
}
