//! Tests of the outbox: order, batching, spilling, shedding.
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
    assert!(matches!(o.take(true, 3), Some(Outgoing::Event { event, .. }) if event == "run:start"));
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
        log_memory: usize::MAX,
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
            log_memory: usize::MAX,
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

/// A log storm with Lightning slower than the job: past the log memory budget the lines go to
/// segment files, memory stays within the budget plus one segment, and every line comes back
/// in order, interleaved correctly with the events around it.
#[test]
fn a_log_storm_is_bounded_in_memory_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let budget = 64 * 1024;
    let mut o = Outbox::with_spill(
        64 << 20,
        Spill {
            dir: tmp.path().join("run-1"),
            budget: 1 << 30,
            log_memory: budget,
        },
    );
    o.push_event("run:start", json!({}));
    for i in 0..100_000 {
        o.push_log(log(i), false);
        if i == 50_000 {
            o.push_event("step:complete", json!({"step_id": "s"}));
            o.push_log(log(999_999), true);
        }
        assert!(o.log_bytes() <= budget, "{}", o.log_bytes());
    }
    o.push_event("run:complete", json!({"reason": "success"}));
    assert!(o.spilled_total() > 1, "{}", o.spilled_total());
    let mut names = Vec::new();
    let mut lines = Vec::new();
    let mut batches = 0;
    while let Some(x) = o.take(true, 50) {
        assert!(o.log_bytes() <= budget + SEGMENT_BYTES, "{}", o.log_bytes());
        match x {
            Outgoing::Event { event, .. } => names.push((event, lines.len())),
            Outgoing::Logs(l) => {
                batches += 1;
                lines.extend(l);
            }
        }
    }
    let mut expected: Vec<Value> = (0..=50_000).map(log).collect();
    expected.push(log(999_999));
    expected.extend((50_001..100_000).map(log));
    assert_eq!(lines.len(), expected.len());
    assert!(lines == expected, "lines out of order or changed");
    assert_eq!(
        names,
        [
            ("run:start".to_string(), 0),
            ("step:complete".to_string(), 50_001),
            ("run:complete".to_string(), 100_001)
        ]
    );
    assert!(batches < 2100, "batched: {batches}");
    assert_eq!(o.dropped_logs(), 0);
    assert_eq!(o.spilled_bytes(), 0);
    assert!(o.log_bytes_peak() <= budget + SEGMENT_BYTES);
    drop(o);
    assert!(!tmp.path().join("run-1").exists(), "segments removed");
}

#[test]
fn without_a_spill_dir_log_lines_stay_in_memory() {
    let mut o = Outbox::new(1 << 30);
    for i in 0..1000 {
        o.push_log(log(i), false);
    }
    assert!(o.log_bytes() > 0);
    assert_eq!(o.spilled_total(), 0);
    assert_eq!(std::iter::from_fn(|| o.take(false, 1)).count(), 1000);
    assert_eq!(o.log_bytes(), 0);
}
