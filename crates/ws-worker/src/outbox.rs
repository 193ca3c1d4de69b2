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
    /// Consecutive batchable log lines written straight to a file (one JSON text a line)
    /// because the run's log lines in memory were at their budget; read back, in order, when
    /// they reach the head.
    LogSegment {
        path: PathBuf,
        lines: usize,
        on_disk: usize,
    },
}

impl Item {
    /// Estimated bytes held in memory.
    fn size(&self) -> usize {
        match self {
            Item::Event { size, .. } | Item::Log { size, .. } => *size,
            Item::Spilled { .. } | Item::LogSegment { .. } => 0,
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
    /// Batchable log lines held in memory at most (estimated bytes); further lines go to
    /// segment files until the queue drains.
    pub log_memory: usize,
}

/// A log segment file is closed at this size (estimated bytes) and a new one started, so
/// reading one back costs at most this much memory.
const SEGMENT_BYTES: usize = 1024 * 1024;

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
    /// Estimated bytes of batchable log lines in memory.
    log_bytes: usize,
    /// The most of `log_bytes` seen.
    log_bytes_peak: usize,
    /// The segment file being appended to, kept open.
    tail: TailFile,
}

/// The open segment file at the tail of the queue.
#[derive(Debug, Default)]
struct TailFile(Option<(PathBuf, std::fs::File)>);

impl Clone for TailFile {
    fn clone(&self) -> Self {
        TailFile(
            self.0
                .as_ref()
                .and_then(|(p, f)| Some((p.clone(), f.try_clone().ok()?))),
        )
    }
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
            log_bytes: 0,
            log_bytes_peak: 0,
            tail: TailFile::default(),
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
    /// Past the log memory budget, batchable lines go to a segment file.
    pub fn push_log(&mut self, line: Value, direct: bool) {
        let size = estimate(&line);
        if !direct && self.over_log_memory(size) && self.append_to_segment(&line, size) {
            return;
        }
        if !direct {
            self.log_bytes += size;
            self.log_bytes_peak = self.log_bytes_peak.max(self.log_bytes);
        }
        self.bytes += size;
        self.queue.push_back(Item::Log { line, size, direct });
        self.compact();
    }

    /// Estimated bytes of batchable log lines held in memory now.
    pub fn log_bytes(&self) -> usize {
        self.log_bytes
    }

    /// The most batchable log bytes held in memory at once.
    pub fn log_bytes_peak(&self) -> usize {
        self.log_bytes_peak
    }

    fn over_log_memory(&self, size: usize) -> bool {
        self.spill
            .as_ref()
            .is_some_and(|s| self.log_bytes + size > s.log_memory)
    }

    /// Appends a batchable line to the segment at the tail (a new one if the tail is not a
    /// segment or is full); false if there is no room on disk or the write failed.
    fn append_to_segment(&mut self, line: &Value, size: usize) -> bool {
        use std::io::Write as _;
        let Some(spill) = self.spill.clone() else {
            return false;
        };
        if self.spilled_bytes + size > spill.budget {
            return false;
        }
        let Ok(mut text) = serde_json::to_vec(line) else {
            return false;
        };
        text.push(b'\n');
        let reuse = match self.queue.back() {
            Some(Item::LogSegment { path, on_disk, .. }) if *on_disk + size <= SEGMENT_BYTES => {
                Some(path.clone())
            }
            _ => None,
        };
        let path = reuse
            .clone()
            .unwrap_or_else(|| spill.dir.join(format!("{:08}.log", self.next_file)));
        let open = match self.tail.0.take() {
            Some((p, f)) if p == path => Ok(f),
            _ => std::fs::create_dir_all(&spill.dir).and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            }),
        };
        let written = open.and_then(|mut f| {
            f.write_all(&text)?;
            self.tail.0 = Some((path.clone(), f));
            Ok(())
        });
        if let Err(e) = written {
            tracing::warn!(dir = %spill.dir.display(), "cannot write log lines to disk: {e}");
            return false;
        }
        self.spilled_bytes += size;
        if reuse.is_some() {
            if let Some(Item::LogSegment { lines, on_disk, .. }) = self.queue.back_mut() {
                *lines += 1;
                *on_disk += size;
            }
        } else {
            self.next_file += 1;
            self.spilled_total += 1;
            self.queue.push_back(Item::LogSegment {
                path,
                lines: 1,
                on_disk: size,
            });
        }
        true
    }

    /// Reads back the segment at the head, if it is one, into log lines in memory.
    fn expand_head(&mut self) {
        let Some(Item::LogSegment { .. }) = self.queue.front() else {
            return;
        };
        let Some(Item::LogSegment {
            path,
            lines,
            on_disk,
        }) = self.queue.pop_front()
        else {
            return;
        };
        self.spilled_bytes = self.spilled_bytes.saturating_sub(on_disk);
        if self.tail.0.as_ref().is_some_and(|(p, _)| *p == path) {
            self.tail.0 = None;
        }
        let read = std::fs::read(&path);
        let _ = std::fs::remove_file(&path);
        let bytes = match read {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(path = %path.display(), "{lines} spilled log lines are lost: {e}");
                self.dropped_logs += lines;
                return;
            }
        };
        let mut restored = Vec::with_capacity(lines);
        for text in bytes.split(|b| *b == b'\n').filter(|t| !t.is_empty()) {
            match serde_json::from_slice::<Value>(text) {
                Ok(line) => restored.push(line),
                Err(_) => self.dropped_logs += 1,
            }
        }
        for line in restored.into_iter().rev() {
            let size = estimate(&line);
            self.bytes += size;
            self.log_bytes += size;
            self.queue.push_front(Item::Log {
                line,
                size,
                direct: false,
            });
        }
        self.log_bytes_peak = self.log_bytes_peak.max(self.log_bytes);
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
        matches!(
            self.queue.front(),
            Some(Item::Log { direct: false, .. } | Item::LogSegment { .. })
        )
    }

    /// Takes the next thing to send. With `batch`, consecutive non-direct log lines are
    /// taken together (up to `limit`); a direct line goes alone.
    pub fn take(&mut self, batch: bool, limit: usize) -> Option<Outgoing> {
        self.expand_head();
        let first = self.queue.pop_front()?;
        self.bytes = self.bytes.saturating_sub(first.size());
        if let Item::Log {
            direct: false,
            size,
            ..
        } = &first
        {
            self.log_bytes = self.log_bytes.saturating_sub(*size);
        }
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
            Item::Spilled { .. } | Item::LogSegment { .. } => self.take(batch, limit),
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
                Item::Spilled { .. } | Item::LogSegment { .. } => continue,
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
            if log == Some(false) {
                self.log_bytes = self.log_bytes.saturating_sub(size);
            }
            self.spilled_bytes += size;
            self.spilled_total += 1;
        }
    }

    /// Takes up to `max` further batchable log lines from the head.
    pub fn take_more_logs(&mut self, max: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < max && self.head_is_batchable_log() {
            self.expand_head();
            if !matches!(self.queue.front(), Some(Item::Log { direct: false, .. })) {
                break;
            }
            if let Some(Item::Log { line, size, .. }) = self.queue.pop_front() {
                self.bytes = self.bytes.saturating_sub(size);
                self.log_bytes = self.log_bytes.saturating_sub(size);
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
        // 1. Dataclip bodies, oldest first; 2. the completion's final_state body; 3. the
        // oldest log lines.
        self.withhold_dataclips();
        self.drop_final_state();
        self.drop_oldest_logs();
    }

    /// Withholds `step:complete` dataclip bodies, oldest first, until within the budget; the
    /// withheld ids are no longer referenced by later events.
    fn withhold_dataclips(&mut self) {
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
            self.forget_dataclip_ids(&newly_withheld);
            self.withheld.extend(newly_withheld);
        }
    }

    /// Removes `input_dataclip_id` (`step:start`) and `final_dataclip_id` (`run:complete`)
    /// where they name a withheld dataclip: Lightning never received it.
    fn forget_dataclip_ids(&mut self, withheld: &[String]) {
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
                    .is_some_and(|id| withheld.iter().any(|w| w == id))
                {
                    map.remove(key);
                }
            }
        }
    }

    /// Drops the `run:complete` event's `final_state` body when still over the budget.
    fn drop_final_state(&mut self) {
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
    }

    /// Drops log lines, oldest first, until within the budget; counts them.
    fn drop_oldest_logs(&mut self) {
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
                if let Item::Log {
                    direct: false,
                    size,
                    ..
                } = item
                {
                    self.log_bytes = self.log_bytes.saturating_sub(size);
                }
                self.dropped_logs += 1;
            }
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Files of items never sent, then the directory (if this outbox made it and it is empty).
        for item in &self.queue {
            if let Item::Spilled { path, .. } | Item::LogSegment { path, .. } = item {
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some(spill) = &self.spill {
            let _ = std::fs::remove_dir(&spill.dir);
        }
    }
}

#[cfg(test)]
mod tests;
