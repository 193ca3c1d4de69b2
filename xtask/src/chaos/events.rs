//! Follows the mock's event stream (`GET /events?all=true`, server-sent events) and keeps, per
//! run id, what tells whether a run was lost or executed twice: how often it was claimed, the
//! distinct `run:start` payloads seen (a re-sent event after a reconnect carries the same
//! payload; a second execution has another timestamp), joins, and whether a `run:complete` or
//! `run:lost` was seen.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;

/// What the stream said about one run.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub claims: u32,
    pub joins: u32,
    /// Hashes of distinct `run:start` payloads.
    pub starts: HashSet<u64>,
    pub completes: u32,
    pub lost: bool,
}

/// The tracker: a task reading the stream and the per-run table it fills.
#[derive(Debug)]
pub struct Tracker {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Events whose data the tracker reads; the data of every other event is skipped unparsed.
const WANTED: &[&str] = &["claim", "run:start", "run:join", "run:complete", "run:lost"];

impl Tracker {
    /// Subscribes to the mock's event stream. When this returns the mock has subscribed us:
    /// every event from now on is seen.
    pub async fn start(base: &str) -> Result<Self> {
        let resp = reqwest::Client::new()
            .get(format!("{base}/events?all=true"))
            .send()
            .await
            .context("GET /events")?
            .error_for_status()
            .context("GET /events")?;
        let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
        let table = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut stream = resp.bytes_stream();
            let mut parser = SseParser::default();
            while let Some(Ok(chunk)) = stream.next().await {
                parser.feed(&chunk, &mut |name, data| record(&table, name, data));
            }
        });
        Ok(Self { seen, task })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Seen>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What was seen for `id` so far.
    pub fn get(&self, id: &str) -> Seen {
        self.lock().get(id).cloned().unwrap_or_default()
    }

    /// Whether a `run:complete` (accepted or not) or `run:lost` was seen for `id`.
    pub fn maybe_final(&self, id: &str) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|s| s.completes > 0 || s.lost)
    }

    /// Whether `id` has a `run:start` (accepted or not).
    pub fn started(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|s| !s.starts.is_empty())
    }
}

fn record(table: &Mutex<HashMap<String, Seen>>, name: &str, data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut table = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if name == "claim" {
        for run in value
            .get("payload")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = run.get("id").and_then(Value::as_str) {
                table.entry(id.to_owned()).or_default().claims += 1;
            }
        }
        return;
    }
    let Some(id) = value.get("runId").and_then(Value::as_str) else {
        return;
    };
    let seen = table.entry(id.to_owned()).or_default();
    match name {
        "run:start" => {
            let mut h = DefaultHasher::new();
            value.get("payload").map(Value::to_string).hash(&mut h);
            seen.starts.insert(h.finish());
        }
        "run:join" => seen.joins += 1,
        "run:complete" => seen.completes += 1,
        "run:lost" => seen.lost = true,
        _ => {}
    }
}

/// A minimal server-sent-events parser: `event:` and `data:` lines, a blank line ends an
/// event. Data of events not in [`WANTED`] is not kept.
#[derive(Debug, Default)]
struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Vec<u8>,
}

impl SseParser {
    fn feed(&mut self, chunk: &[u8], on_event: &mut dyn FnMut(&str, &[u8])) {
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.line.extend_from_slice(&rest[..nl]);
            rest = &rest[nl + 1..];
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, on_event);
        }
        self.line.extend_from_slice(rest);
    }

    fn on_line(&mut self, line: &[u8], on_event: &mut dyn FnMut(&str, &[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if !self.event.is_empty() && !self.data.is_empty() {
                on_event(&self.event, &self.data);
            }
            self.event.clear();
            self.data.clear();
        } else if let Some(name) = line.strip_prefix(b"event:") {
            self.event = String::from_utf8_lossy(name).trim().to_owned();
        } else if let Some(data) = line.strip_prefix(b"data:")
            && WANTED.contains(&self.event.as_str())
        {
            self.data
                .extend_from_slice(data.strip_prefix(b" ").unwrap_or(data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks_and_skips_unwanted_data() {
        let mut parser = SseParser::default();
        let mut got = Vec::new();
        let text = "event: run:log\ndata: {\"x\":1}\n\nevent: run:start\ndata: {\"runId\":\"r\"}\n\n: keep-alive\n\n";
        for piece in text.as_bytes().chunks(7) {
            parser.feed(piece, &mut |name, data| {
                got.push((name.to_owned(), String::from_utf8_lossy(data).into_owned()));
            });
        }
        assert_eq!(
            got,
            [("run:start".to_owned(), "{\"runId\":\"r\"}".to_owned())]
        );
    }

    #[test]
    fn counts_distinct_starts_and_claims() {
        let table = Mutex::new(HashMap::new());
        record(&table, "claim", br#"{"payload":[{"id":"a"},{"id":"b"}]}"#);
        record(&table, "run:start", br#"{"runId":"a","payload":{"t":1}}"#);
        record(&table, "run:start", br#"{"runId":"a","payload":{"t":1}}"#);
        record(&table, "run:start", br#"{"runId":"b","payload":{"t":1}}"#);
        record(&table, "run:start", br#"{"runId":"b","payload":{"t":2}}"#);
        let table = table.into_inner().unwrap_or_default();
        assert_eq!(table["a"].starts.len(), 1);
        assert_eq!(table["b"].starts.len(), 2);
        assert_eq!(table["a"].claims, 1);
    }
}
