//! The per-run outbox: every event a run produces is queued here in order and removed only
//! when Lightning acknowledged it, so a socket drop loses nothing (the sender rejoins and
//! re-sends). The engine never waits for the socket: it appends and carries on.
//!
//! The outbox is bounded in memory. Over budget, an outbox with a spill directory first moves
//! its largest waiting items (oldest first) to files there, within a disk budget, and reads
//! them back when they are sent: nothing is lost while Lightning is away. Past that (no spill
//! directory, disk budget spent, a write failing), dataclip bodies go (the step is then
//! reported as withheld, `DATACLIP_TOO_LARGE`, and later references to that dataclip are
//! dropped, exactly as for an over-limit output), then the completion's `final_state`, then
//! the oldest log lines. Step events and the completion itself are never dropped.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

use serde_json::{Value, json};

/// Items smaller than this stay in memory (a file each would cost more than it saves).
const SPILL_MIN_BYTES: usize = 16 * 1024;

/// What the sender sends next.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// One event with its payload.
    Event { event: String, payload: Value },
    /// Log lines, in order (one `run:batch_logs`, or one `run:log` each).
    Logs(Vec<Value>),
}

#[derive(Debug, Clone)]
enum Item {
    Event {
        event: String,
        payload: Value,
        size: usize,
    },
    Log {
        line: Value,
        size: usize,
        direct: bool,
    },
    /// An event or log line moved to a file to keep memory within the budget; `on_disk` is
    /// its estimated size, counted against the disk budget.
    Spilled {
        path: PathBuf,
        log: Option<bool>,
        on_disk: usize,
    },
}

impl Item {
    /// Estimated bytes held in memory.
    fn size(&self) -> usize {
        match self {
            Item::Event { size, .. } | Item::Log { size, .. } => *size,
            Item::Spilled { .. } => 0,
        }
    }
}

/// Where an outbox may spill, and how much.
#[derive(Debug, Clone)]
pub struct Spill {
    /// A directory of this outbox's own (created on first spill, removed with the outbox).
    pub dir: PathBuf,
    /// At most this many bytes (estimated) on disk at a time.
    pub budget: usize,
}

fn estimate(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 12,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(estimate).sum::<usize>() + a.len(),
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, v)| k.len() + 4 + estimate(v))
                .sum::<usize>()
        }
    }
}

/// The queue of one run's unacknowledged events. Not `Clone` outside tests: an outbox owns
/// its spill files.
#[derive(Debug)]
#[cfg_attr(test, derive(Clone))]
pub struct Outbox {
    queue: VecDeque<Item>,
    bytes: usize,
    budget: usize,
    closed: bool,
    withheld: HashSet<String>,
    dropped_logs: usize,
    spill: Option<Spill>,
    spilled_bytes: usize,
    spilled_total: usize,
    next_file: u64,
}

impl Outbox {
    /// An empty outbox holding at most about `budget` bytes of payload in memory.
    pub fn new(budget: usize) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            budget,
            closed: false,
            withheld: HashSet::new(),
            dropped_logs: 0,
            spill: None,
            spilled_bytes: 0,
            spilled_total: 0,
            next_file: 0,
        }
    }

    /// As [`Outbox::new`], spilling to `spill.dir` before anything is dropped.
    pub fn with_spill(budget: usize, spill: Spill) -> Outbox {
        let mut outbox = Outbox::new(budget);
        outbox.spill = Some(spill);
        outbox
    }

    /// Estimated bytes on disk now.
    pub fn spilled_bytes(&self) -> usize {
        self.spilled_bytes
    }

    /// Items spilled to disk so far.
    pub fn spilled_total(&self) -> usize {
        self.spilled_total
    }

    /// Queues an event.
    pub fn push_event(&mut self, event: &str, payload: Value) {
        let size = estimate(&payload);
        self.bytes += size;
        self.queue.push_back(Item::Event {
            event: event.to_string(),
            payload,
            size,
        });
        self.compact();
    }

    /// Queues a log line. `direct` lines (the worker's own) are never merged into a batch.
    pub fn push_log(&mut self, line: Value, direct: bool) {
        let size = estimate(&line);
        self.bytes += size;
        self.queue.push_back(Item::Log { line, size, direct });
        self.compact();
    }

    /// No more events will be queued.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Whether [`Outbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queued payload bytes (estimated).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Log lines dropped for lack of room.
    pub fn dropped_logs(&self) -> usize {
        self.dropped_logs
    }

    /// Dataclips withheld because the outbox was full.
    pub fn withheld_total(&self) -> usize {
        self.withheld.len()
    }

    /// Whether dataclip `id` was withheld because the outbox was full.
    pub fn is_withheld(&self, id: &str) -> bool {
        self.withheld.contains(id)
    }

    /// Whether the head is a log line that may be batched with what follows.
    pub fn head_is_batchable_log(&self) -> bool {
        matches!(self.queue.front(), Some(Item::Log { direct: false, .. }))
    }

    /// Takes the next thing to send. With `batch`, consecutive non-direct log lines are
    /// taken together (up to `limit`); a direct line goes alone.
    pub fn take(&mut self, batch: bool, limit: usize) -> Option<Outgoing> {
        let first = self.queue.pop_front()?;
        self.bytes = self.bytes.saturating_sub(first.size());
        let first = self.restore(first);
        match first {
            Item::Event { event, payload, .. } => Some(Outgoing::Event { event, payload }),
            Item::Log { line, direct, .. } => {
                let mut lines = vec![line];
                if batch && !direct {
                    lines.extend(self.take_more_logs(limit.saturating_sub(1)));
                }
                Some(Outgoing::Logs(lines))
            }
            // a spilled item that could not be read back: nothing left to send for it
            Item::Spilled { .. } => self.take(batch, limit),
        }
    }

    /// A spilled item read back from its file (which is removed); others as they are. An
    /// unreadable file is logged and stays `Spilled`.
    fn restore(&mut self, item: Item) -> Item {
        let Item::Spilled { path, log, on_disk } = item else {
            return item;
        };
        self.spilled_bytes = self.spilled_bytes.saturating_sub(on_disk);
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&path);
        match (read, log) {
            (Ok(line), Some(direct)) => Item::Log {
                line,
                size: 0,
                direct,
            },
            (Ok(mut v), None) => {
                let event = v["event"].as_str().unwrap_or_default().to_string();
                Item::Event {
                    event,
                    payload: v["payload"].take(),
                    size: 0,
                }
            }
            (Err(e), _) => {
                tracing::error!(path = %path.display(), "a spilled outbox item is lost: {e}");
                Item::Spilled { path, log, on_disk }
            }
        }
    }

    /// Moves the largest waiting items (at least [`SPILL_MIN_BYTES`], oldest first among
    /// equals) to disk until memory is within budget, the disk budget is spent or a write
    /// fails.
    fn spill_to_disk(&mut self) {
        let Some(spill) = self.spill.clone() else {
            return;
        };
        let mut order: Vec<usize> = (0..self.queue.len())
            .filter(|&i| self.queue[i].size() >= SPILL_MIN_BYTES)
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.queue[i].size()));
        for i in order {
            if self.bytes <= self.budget {
                return;
            }
            let size = self.queue[i].size();
            if self.spilled_bytes + size > spill.budget {
                continue;
            }
            let (body, log) = match &self.queue[i] {
                Item::Event { event, payload, .. } => {
                    (json!({"event": event, "payload": payload}), None)
                }
                Item::Log { line, direct, .. } => (line.clone(), Some(*direct)),
                Item::Spilled { .. } => continue,
            };
            let path = spill.dir.join(format!("{:08}.json", self.next_file));
            let written = std::fs::create_dir_all(&spill.dir).and_then(|_| {
                let bytes = serde_json::to_vec(&body).map_err(std::io::Error::other)?;
                std::fs::write(&path, bytes)
            });
            if let Err(e) = written {
                tracing::warn!(dir = %spill.dir.display(), "cannot spill the outbox to disk: {e}");
                let _ = std::fs::remove_file(&path);
                return;
            }
            self.next_file += 1;
            self.queue[i] = Item::Spilled {
                path,
                log,
                on_disk: size,
            };
            self.bytes = self.bytes.saturating_sub(size);
            self.spilled_bytes += size;
            self.spilled_total += 1;
        }
    }

    /// Takes up to `max` further batchable log lines from the head.
    pub fn take_more_logs(&mut self, max: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < max && self.head_is_batchable_log() {
            if let Some(Item::Log { line, size, .. }) = self.queue.pop_front() {
                self.bytes = self.bytes.saturating_sub(size);
                out.push(line);
            }
        }
        out
    }

    fn compact(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        // 0. Spill to disk.
        self.spill_to_disk();
        if self.bytes <= self.budget {
            return;
        }
        // 1. Dataclip bodies, oldest first.
        let mut newly_withheld = Vec::new();
        for item in self.queue.iter_mut() {
            if self.bytes <= self.budget {
                break;
            }
            if let Item::Event {
                event,
                payload,
                size,
            } = item
                && event == "step:complete"
                && let Some(map) = payload.as_object_mut()
                && map.contains_key("output_dataclip")
            {
                let body = map
                    .remove("output_dataclip")
                    .map(|v| estimate(&v))
                    .unwrap_or(0);
                if let Some(Value::String(id)) = map.remove("output_dataclip_id") {
                    newly_withheld.push(id);
                }
                map.insert(
                    "output_dataclip_error".into(),
                    Value::String("DATACLIP_TOO_LARGE".into()),
                );
                *size = size.saturating_sub(body);
                self.bytes = self.bytes.saturating_sub(body);
            }
        }
        if !newly_withheld.is_empty() {
            for item in self.queue.iter_mut() {
                if let Item::Event { event, payload, .. } = item
                    && let Some(map) = payload.as_object_mut()
                {
                    let key = match event.as_str() {
                        "step:start" => "input_dataclip_id",
                        "run:complete" => "final_dataclip_id",
                        _ => continue,
                    };
                    if map
                        .get(key)
                        .and_then(Value::as_str)
                        .is_some_and(|id| newly_withheld.iter().any(|w| w == id))
                    {
                        map.remove(key);
                    }
                }
            }
            self.withheld.extend(newly_withheld);
        }
        // 2. The completion's final_state body.
        for item in self.queue.iter_mut() {
            if self.bytes <= self.budget {
                break;
            }
            if let Item::Event {
                event,
                payload,
                size,
            } = item
                && event == "run:complete"
                && let Some(map) = payload.as_object_mut()
                && let Some(state) = map.remove("final_state")
            {
                let body = estimate(&state);
                *size = size.saturating_sub(body);
                self.bytes = self.bytes.saturating_sub(body);
            }
        }
        // 3. The oldest log lines.
        while self.bytes > self.budget {
            let Some(pos) = self
                .queue
                .iter()
                .position(|i| matches!(i, Item::Log { .. }))
            else {
                break;
            };
            if let Some(item) = self.queue.remove(pos) {
                self.bytes = self.bytes.saturating_sub(item.size());
                self.dropped_logs += 1;
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Files of items never sent, then the directory (if this outbox made it and it is empty).
        for item in &self.queue {
            if let Item::Spilled { path, .. } = item {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(spill) = &self.spill {
            let _ = std::fs::remove_dir(&spill.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log(i: usize) -> Value {
        json!({"message": [format!("line {i}")], "source": "JOB", "level": "info", "timestamp": "1"})
    }

    #[test]
    fn keeps_order_and_batches() {
        let mut o = Outbox::new(1 << 20);
        o.push_event("run:start", json!({}));
        for i in 0..5 {
            o.push_log(log(i), false);
        }
        o.push_log(log(99), true);
        o.push_log(log(5), false);
        o.push_event("run:complete", json!({"reason": "success"}));
        assert!(
            matches!(o.take(true, 3), Some(Outgoing::Event { event, .. }) if event == "run:start")
        );
        assert!(matches!(o.take(true, 3), Some(Outgoing::Logs(l)) if l.len() == 3));
        assert!(matches!(o.take(true, 3), Some(Outgoing::Logs(l)) if l.len() == 2));
        assert!(matches!(o.take(true, 3), Some(Outgoing::Logs(l)) if l == vec![log(99)]));
        assert!(matches!(o.take(true, 3), Some(Outgoing::Logs(l)) if l == vec![log(5)]));
        assert!(
            matches!(o.take(false, 3), Some(Outgoing::Event { event, .. }) if event == "run:complete")
        );
        assert!(o.take(true, 3).is_none());
        assert_eq!(o.bytes(), 0);
    }

    #[test]
    fn unbatched_logs_go_one_by_one() {
        let mut o = Outbox::new(1 << 20);
        o.push_log(log(0), false);
        o.push_log(log(1), false);
        assert!(matches!(o.take(false, 50), Some(Outgoing::Logs(l)) if l.len() == 1));
    }

    fn spill_in(dir: &std::path::Path, disk: usize) -> Spill {
        Spill {
            dir: dir.join("run-1"),
            budget: disk,
        }
    }

    /// A run's events while Lightning is away: five 30 KB dataclips, a 30 KB final state and
    /// logs, in an outbox with 40 KB of memory.
    fn fill(o: &mut Outbox, big: &str) {
        for i in 0..5 {
            o.push_event(
                "step:start",
                json!({"step_id": format!("s{i}"), "job_id": "j"}),
            );
            o.push_log(log(i), false);
            o.push_event(
                "step:complete",
                json!({"step_id": format!("s{i}"), "output_dataclip_id": format!("d{i}"), "output_dataclip": big, "reason": "success"}),
            );
        }
        o.push_event(
            "run:complete",
            json!({"final_state": {"data": big}, "final_dataclip_id": "d4", "reason": "success"}),
        );
    }

    fn drain(o: &mut Outbox) -> Vec<Outgoing> {
        std::iter::from_fn(|| o.take(false, 1)).collect()
    }

    #[test]
    fn over_budget_spills_to_disk_and_loses_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let big = "x".repeat(30 * 1024);
        let mut o = Outbox::with_spill(40 * 1024, spill_in(tmp.path(), 10 << 20));
        fill(&mut o, &big);
        assert!(o.bytes() <= 40 * 1024, "{}", o.bytes());
        assert!(o.spilled_total() >= 5, "{}", o.spilled_total());
        assert_eq!(o.dropped_logs(), 0);
        assert!((0..5).all(|i| !o.is_withheld(&format!("d{i}"))));
        let files = std::fs::read_dir(tmp.path().join("run-1")).unwrap().count();
        assert_eq!(files, o.spilled_total());
        let out = drain(&mut o);
        // everything, in order, whole
        let mut expected = Outbox::new(usize::MAX);
        fill(&mut expected, &big);
        assert_eq!(out, drain(&mut expected));
        assert_eq!(o.spilled_bytes(), 0);
        assert_eq!(
            std::fs::read_dir(tmp.path().join("run-1")).unwrap().count(),
            0
        );
        drop(o);
        assert!(!tmp.path().join("run-1").exists(), "spill dir removed");
    }

    #[test]
    fn past_the_disk_budget_it_withholds_as_before() {
        let tmp = tempfile::tempdir().unwrap();
        let big = "x".repeat(30 * 1024);
        let mut o = Outbox::with_spill(40 * 1024, spill_in(tmp.path(), 70 * 1024));
        fill(&mut o, &big);
        assert!(o.bytes() <= 40 * 1024, "{}", o.bytes());
        assert_eq!(o.spilled_total(), 2);
        assert!((0..5).any(|i| o.is_withheld(&format!("d{i}"))));
        let events = drain(&mut o);
        let completes = events
            .iter()
            .filter(|x| matches!(x, Outgoing::Event { event, .. } if event == "run:complete"))
            .count();
        assert_eq!(completes, 1);
    }

    #[test]
    fn an_unwritable_spill_dir_falls_back_to_withholding() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let big = "x".repeat(30 * 1024);
        let mut o = Outbox::with_spill(
            40 * 1024,
            Spill {
                dir: file.join("run-1"),
                budget: 10 << 20,
            },
        );
        fill(&mut o, &big);
        assert_eq!(o.spilled_total(), 0);
        assert!(o.bytes() <= 40 * 1024);
        assert!(o.is_withheld("d0"));
        assert_eq!(drain(&mut o).len(), 16);
    }

    #[test]
    fn dropping_an_undrained_outbox_removes_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let big = "x".repeat(30 * 1024);
        let mut o = Outbox::with_spill(40 * 1024, spill_in(tmp.path(), 10 << 20));
        fill(&mut o, &big);
        assert!(o.spilled_total() > 0);
        drop(o);
        assert!(!tmp.path().join("run-1").exists());
    }

    #[test]
    fn over_budget_drops_dataclips_first_then_final_state_then_logs_never_completion() {
        let big = "x".repeat(1000);
        let mut o = Outbox::new(1500);
        o.push_event("step:start", json!({"step_id": "s1", "job_id": "j1"}));
        o.push_event(
            "step:complete",
            json!({"step_id": "s1", "output_dataclip_id": "d1", "output_dataclip": big.clone(), "reason": "success"}),
        );
        o.push_event(
            "step:start",
            json!({"step_id": "s2", "job_id": "j2", "input_dataclip_id": "d1"}),
        );
        o.push_event(
            "step:complete",
            json!({"step_id": "s2", "output_dataclip_id": "d2", "output_dataclip": big.clone(), "reason": "success"}),
        );
        assert!(o.is_withheld("d1"));
        assert!(!o.is_withheld("d2"));
        for i in 0..50 {
            o.push_log(log(i), false);
        }
        o.push_event(
            "run:complete",
            json!({"final_state": {"data": big}, "final_dataclip_id": "d2", "reason": "success"}),
        );
        assert!(o.bytes() <= 1500, "{}", o.bytes());
        assert!(o.dropped_logs() > 0);
        let mut events = Vec::new();
        while let Some(x) = o.take(true, 50) {
            if let Outgoing::Event { event, payload } = x {
                events.push((event, payload));
            }
        }
        let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "step:start",
                "step:complete",
                "step:start",
                "step:complete",
                "run:complete"
            ]
        );
        assert_eq!(events[1].1["output_dataclip_error"], "DATACLIP_TOO_LARGE");
        assert!(events[1].1.get("output_dataclip_id").is_none());
        assert!(
            events[2].1.get("input_dataclip_id").is_none(),
            "reference to a withheld dataclip dropped"
        );
        assert_eq!(events[4].1["reason"], "success");
    }

    /// Deterministic model of the outbox and its sender under a flaky link: a producer appends
    /// events to a real [`Outbox`] while the sender takes one at a time and keeps it until
    /// acknowledged. Every interleaving (up to a depth) of produce, take, "delivered and
    /// acked" and "delivered but the ack was lost to a drop" (re-sent after rejoin) is
    /// explored. The receiver must see every event in production order,
    /// duplicates only as immediate re-sends, and nothing lost.
    #[test]
    fn model_outbox_delivers_in_order_across_drops() {
        #[derive(Clone)]
        struct S {
            produced: usize,
            outbox: Outbox,
            in_flight: Option<usize>,
            received: Vec<usize>,
        }
        const N: usize = 4;
        fn explore(s: S, depth: usize, checked: &mut u64) {
            let mut distinct: Vec<usize> = Vec::new();
            for r in &s.received {
                if distinct.last() != Some(r) {
                    distinct.push(*r);
                }
            }
            for (i, r) in distinct.iter().enumerate() {
                assert_eq!(*r, i, "out of order or lost: {:?}", s.received);
            }
            if s.produced == N && s.outbox.is_empty() && s.in_flight.is_none() {
                assert_eq!(distinct, (0..N).collect::<Vec<_>>());
                *checked += 1;
                return;
            }
            if depth == 0 {
                return;
            }
            if s.produced < N {
                let mut n = s.clone();
                n.outbox.push_event("e", json!(n.produced));
                n.produced += 1;
                explore(n, depth - 1, checked);
            }
            if s.in_flight.is_none() {
                let mut n = s.clone();
                if let Some(Outgoing::Event { payload, .. }) = n.outbox.take(true, 10) {
                    n.in_flight = payload.as_u64().map(|v| v as usize);
                    explore(n, depth - 1, checked);
                }
            }
            if let Some(x) = s.in_flight {
                let mut n = s.clone();
                n.received.push(x);
                n.in_flight = None;
                explore(n, depth - 1, checked);
                let mut n = s.clone();
                n.received.push(x);
                explore(n, depth - 1, checked);
            }
        }
        let mut checked = 0;
        let s = S {
            produced: 0,
            outbox: Outbox::new(1 << 20),
            in_flight: None,
            received: Vec::new(),
        };
        explore(s, 14, &mut checked);
        assert!(checked > 100, "complete schedules checked: {checked}");
    }
}
