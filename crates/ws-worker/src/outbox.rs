//! The per-run outbox: every event a run produces is queued here in order and removed only
//! when Lightning acknowledged it, so a socket drop loses nothing (the sender rejoins and
//! re-sends). The engine never waits for the socket: it appends and carries on.
//!
//! The outbox is bounded in memory. Over budget, dataclip bodies go first (the step is then
//! reported as withheld, `DATACLIP_TOO_LARGE`, and later references to that dataclip are
//! dropped, exactly as for an over-limit output), then the completion's `final_state`, then
//! the oldest log lines. Step events and the completion itself are never dropped.

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

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
}

impl Item {
    fn size(&self) -> usize {
        match self {
            Item::Event { size, .. } | Item::Log { size, .. } => *size,
        }
    }
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

/// The queue of one run's unacknowledged events.
#[derive(Debug, Clone)]
pub struct Outbox {
    queue: VecDeque<Item>,
    bytes: usize,
    budget: usize,
    closed: bool,
    withheld: HashSet<String>,
    dropped_logs: usize,
}

impl Outbox {
    /// An empty outbox holding at most about `budget` bytes of payload.
    pub fn new(budget: usize) -> Outbox {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            budget,
            closed: false,
            withheld: HashSet::new(),
            dropped_logs: 0,
        }
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
        match first {
            Item::Event { event, payload, .. } => Some(Outgoing::Event { event, payload }),
            Item::Log { line, direct, .. } => {
                let mut lines = vec![line];
                if batch && !direct {
                    lines.extend(self.take_more_logs(limit.saturating_sub(1)));
                }
                Some(Outgoing::Logs(lines))
            }
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
