//! Worker metrics, rendered as Prometheus text for `GET /metrics`: slots per workloop, claims,
//! runs by reason, a run-duration histogram, event retries, payload sizes, reconnects and
//! outbox pressure (spills, withheld dataclips, dropped log lines).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Run-duration histogram buckets (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Payload-size histogram buckets (bytes).
const SIZE_BUCKETS: &[f64] = &[1e3, 1e4, 1e5, 1e6, 1e7];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], v: f64) {
        if self.counts.len() != buckets.len() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, b) in buckets.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in buckets.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// Fuel used by wasm-tier steps (`--sandbox wasm`), over the whole process: the engine reports
/// it per step and the worker adds it up here (it is not sent to Lightning).
static WASM_FUEL: AtomicU64 = AtomicU64::new(0);

/// Adds a wasm-tier step's fuel to `openfn_worker_wasm_fuel_total`.
pub fn add_wasm_fuel(fuel: u64) {
    WASM_FUEL.fetch_add(fuel, Ordering::Relaxed);
}

/// Slot usage of one workloop, as reported by the workloop itself.
#[derive(Debug, Clone)]
pub struct SlotReport {
    /// The workloop's queue chain, e.g. `manual>*`.
    pub workloop: String,
    /// Slots in total.
    pub capacity: usize,
    /// Running runs.
    pub active: usize,
    /// Claims in flight.
    pub open_claims: usize,
}

/// Counters shared by the whole worker.
#[derive(Debug, Default)]
pub struct Metrics {
    claims: AtomicU64,
    claims_empty: AtomicU64,
    claims_failed: AtomicU64,
    claimed_runs: AtomicU64,
    reconnects: AtomicU64,
    recycles: AtomicU64,
    event_retries: AtomicU64,
    events_dropped: AtomicU64,
    outbox_spilled: AtomicU64,
    outbox_withheld: AtomicU64,
    outbox_dropped_logs: AtomicU64,
    outbox_log_bytes_peak: AtomicU64,
    runs_by_reason: Mutex<BTreeMap<String, u64>>,
    run_duration: Mutex<Histogram>,
    payload_bytes: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    /// A claim was sent.
    pub fn inc_claims(&self) {
        self.claims.fetch_add(1, Ordering::Relaxed);
    }
    /// A claim came back with no runs.
    pub fn inc_claims_empty(&self) {
        self.claims_empty.fetch_add(1, Ordering::Relaxed);
    }
    /// A claim failed (error reply or timeout).
    pub fn inc_claims_failed(&self) {
        self.claims_failed.fetch_add(1, Ordering::Relaxed);
    }
    /// Runs received from claims.
    pub fn add_claimed_runs(&self, n: u64) {
        self.claimed_runs.fetch_add(n, Ordering::Relaxed);
    }
    /// The socket reconnected.
    pub fn inc_reconnects(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    /// The socket was recycled while idle after a large message (not a reconnect).
    pub fn inc_recycles(&self) {
        self.recycles.fetch_add(1, Ordering::Relaxed);
    }
    /// How many reconnects so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    /// An event push was retried.
    pub fn inc_event_retries(&self) {
        self.event_retries.fetch_add(1, Ordering::Relaxed);
    }
    /// An event was given up after its retries.
    pub fn inc_events_dropped(&self) {
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }
    /// What a finished run's outbox did under memory pressure: items spilled to disk,
    /// dataclips withheld, log lines dropped.
    pub fn outbox_pressure(&self, spilled: usize, withheld: usize, dropped_logs: usize) {
        self.outbox_spilled
            .fetch_add(spilled as u64, Ordering::Relaxed);
        self.outbox_withheld
            .fetch_add(withheld as u64, Ordering::Relaxed);
        self.outbox_dropped_logs
            .fetch_add(dropped_logs as u64, Ordering::Relaxed);
    }
    /// The most log-line bytes (estimated) a run's outbox held in memory at once.
    pub fn outbox_log_peak(&self, bytes: usize) {
        self.outbox_log_bytes_peak
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }
    /// A run finished with `reason` after `duration`.
    pub fn run_finished(&self, reason: &str, duration: Duration) {
        if let Ok(mut m) = self.runs_by_reason.lock() {
            *m.entry(reason.to_string()).or_default() += 1;
        }
        if let Ok(mut h) = self.run_duration.lock() {
            h.observe(DURATION_BUCKETS, duration.as_secs_f64());
        }
    }
    /// An event of `event` with a payload of `bytes` was sent.
    pub fn payload(&self, event: &str, bytes: usize) {
        if let Ok(mut m) = self.payload_bytes.lock() {
            m.entry(event.to_string())
                .or_default()
                .observe(SIZE_BUCKETS, bytes as f64);
        }
    }

    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self, slots: &[SlotReport], ready: bool) -> String {
        let mut out = String::new();
        render_readiness_and_slots(&mut out, slots, ready);
        self.render_counters(&mut out);
        self.render_runs_and_histograms(&mut out);
        out
    }

    /// The counters, each with its help line, and the outbox's log-bytes gauge.
    fn render_counters(&self, out: &mut String) {
        let counters: [(&str, &str, &AtomicU64); 11] = [
            ("openfn_worker_claims_total", "Claims sent", &self.claims),
            (
                "openfn_worker_claims_empty_total",
                "Claims answered with no runs",
                &self.claims_empty,
            ),
            (
                "openfn_worker_claims_failed_total",
                "Claims that errored or timed out",
                &self.claims_failed,
            ),
            (
                "openfn_worker_claimed_runs_total",
                "Runs received from claims",
                &self.claimed_runs,
            ),
            (
                "openfn_worker_reconnects_total",
                "Socket reconnects",
                &self.reconnects,
            ),
            (
                "openfn_worker_connection_recycles_total",
                "Connections closed while idle after a large message, to free its buffers",
                &self.recycles,
            ),
            (
                "openfn_worker_event_retries_total",
                "Event pushes retried",
                &self.event_retries,
            ),
            (
                "openfn_worker_events_dropped_total",
                "Events given up after retries",
                &self.events_dropped,
            ),
            (
                "openfn_worker_outbox_spilled_total",
                "Outbox items moved to disk while Lightning was slow or away",
                &self.outbox_spilled,
            ),
            (
                "openfn_worker_outbox_withheld_dataclips_total",
                "Dataclips withheld because a run's outbox was full on disk too",
                &self.outbox_withheld,
            ),
            (
                "openfn_worker_outbox_dropped_logs_total",
                "Log lines dropped because a run's outbox was full",
                &self.outbox_dropped_logs,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP openfn_worker_wasm_fuel_total Fuel used by steps on the wasm tier (--sandbox wasm), about one unit per wasm instruction\n# TYPE openfn_worker_wasm_fuel_total counter\nopenfn_worker_wasm_fuel_total {}",
            WASM_FUEL.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP openfn_worker_outbox_log_bytes_peak Most log-line bytes one run's outbox held in memory (estimated)\n# TYPE openfn_worker_outbox_log_bytes_peak gauge\nopenfn_worker_outbox_log_bytes_peak {}",
            self.outbox_log_bytes_peak.load(Ordering::Relaxed)
        );
    }

    /// Finished runs by reason, the run-duration histogram and payload sizes by event.
    fn render_runs_and_histograms(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP openfn_worker_runs_total Finished runs by reason\n# TYPE openfn_worker_runs_total counter"
        );
        if let Ok(m) = self.runs_by_reason.lock() {
            for (reason, n) in m.iter() {
                let _ = writeln!(out, "openfn_worker_runs_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP openfn_worker_run_duration_seconds Claim-to-complete run duration\n# TYPE openfn_worker_run_duration_seconds histogram"
        );
        if let Ok(h) = self.run_duration.lock() {
            h.render(
                out,
                "openfn_worker_run_duration_seconds",
                "",
                DURATION_BUCKETS,
            );
        }
        let _ = writeln!(
            out,
            "# HELP openfn_worker_payload_bytes Size of event payloads sent\n# TYPE openfn_worker_payload_bytes histogram"
        );
        if let Ok(m) = self.payload_bytes.lock() {
            for (event, h) in m.iter() {
                h.render(
                    out,
                    "openfn_worker_payload_bytes",
                    &format!("event=\"{event}\""),
                    SIZE_BUCKETS,
                );
            }
        }
    }
}

/// Readiness (joined to `worker:queue`) and each workloop's slots by state.
fn render_readiness_and_slots(out: &mut String, slots: &[SlotReport], ready: bool) {
    let _ = writeln!(
        out,
        "# HELP openfn_worker_ready 1 while joined to worker:queue\n# TYPE openfn_worker_ready gauge"
    );
    let _ = writeln!(out, "openfn_worker_ready {}", u8::from(ready));
    let _ = writeln!(
        out,
        "# HELP openfn_worker_slots Slots per workloop by state\n# TYPE openfn_worker_slots gauge"
    );
    for s in slots {
        let free = s.capacity.saturating_sub(s.active + s.open_claims);
        let w = &s.workloop;
        let _ = writeln!(
            out,
            "openfn_worker_slots{{workloop=\"{w}\",state=\"busy\"}} {}",
            s.active
        );
        let _ = writeln!(
            out,
            "openfn_worker_slots{{workloop=\"{w}\",state=\"claiming\"}} {}",
            s.open_claims
        );
        let _ = writeln!(
            out,
            "openfn_worker_slots{{workloop=\"{w}\",state=\"free\"}} {free}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc_claims();
        m.run_finished("success", Duration::from_millis(30));
        m.payload("step:complete", 2000);
        m.outbox_pressure(3, 1, 0);
        m.outbox_pressure(2, 0, 4);
        let text = m.render(
            &[SlotReport {
                workloop: "manual>*".into(),
                capacity: 5,
                active: 2,
                open_claims: 1,
            }],
            true,
        );
        assert!(text.contains("openfn_worker_claims_total 1"));
        assert!(text.contains("openfn_worker_slots{workloop=\"manual>*\",state=\"free\"} 2"));
        assert!(text.contains("openfn_worker_runs_total{reason=\"success\"} 1"));
        assert!(text.contains("openfn_worker_run_duration_seconds_bucket{le=\"0.05\"} 1"));
        assert!(text.contains("openfn_worker_run_duration_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains(
            "openfn_worker_payload_bytes_bucket{event=\"step:complete\",le=\"10000\"} 1"
        ));
        assert!(text.contains("openfn_worker_ready 1"));
        assert!(text.contains("openfn_worker_outbox_spilled_total 5"));
        assert!(text.contains("openfn_worker_outbox_withheld_dataclips_total 1"));
        assert!(text.contains("openfn_worker_outbox_dropped_logs_total 4"));
    }

    #[test]
    fn wasm_step_fuel_adds_up() {
        add_wasm_fuel(1200);
        add_wasm_fuel(34);
        let text = Metrics::default().render(&[], true);
        assert!(
            text.contains(
                "# TYPE openfn_worker_wasm_fuel_total counter\nopenfn_worker_wasm_fuel_total 1234\n"
            ),
            "{text}"
        );
    }
}
