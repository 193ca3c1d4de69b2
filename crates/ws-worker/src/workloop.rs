//! Workloops (§6.2, §6.3): each has its own slots, open-claim tracking and backoff.
//!
//! [`Slots`] is the capacity accounting: a claim reserves a slot *before* it is sent, and when
//! its reply arrives the reservation turns into running runs in one step, so
//! `active + open_claims` never exceeds the capacity however claims, replies and run
//! completions interleave (see the model test below).

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::WorkloopSpec;
use crate::metrics::SlotReport;

/// Capacity accounting of one workloop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slots {
    pub capacity: usize,
    pub active: usize,
    pub open_claims: usize,
}

impl Slots {
    /// Slots neither running nor reserved by a claim in flight.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.active + self.open_claims)
    }

    /// Reserves one slot for a claim of demand 1; false when full.
    pub fn open_claim(&mut self) -> bool {
        if self.free() == 0 {
            return false;
        }
        self.open_claims += 1;
        true
    }

    /// Settles a claim: its reservation becomes `runs` active runs (0 for an empty reply,
    /// an error or a timeout). Returns how many of the runs may start; extra runs (a server
    /// that sent more than the demand) are accepted too, since refusing them would lose them.
    pub fn settle_claim(&mut self, runs: usize) {
        self.open_claims = self.open_claims.saturating_sub(1);
        self.active += runs;
    }

    /// A run finished (or was refused before starting).
    pub fn finish_run(&mut self) {
        self.active = self.active.saturating_sub(1);
    }

    /// Nothing running or claiming.
    pub fn idle(&self) -> bool {
        self.active == 0 && self.open_claims == 0
    }
}

/// One workloop at run time.
#[derive(Debug)]
pub struct Workloop {
    /// Position in the configuration.
    pub index: usize,
    pub spec: WorkloopSpec,
    slots: Mutex<Slots>,
    /// Wakes the claim loop: a run finished, or the queue channel was (re)joined.
    pub wake: Notify,
}

impl Workloop {
    /// A workloop with no runs.
    pub fn new(index: usize, spec: WorkloopSpec) -> Workloop {
        let slots = Slots {
            capacity: spec.capacity,
            ..Slots::default()
        };
        Workloop {
            index,
            spec,
            slots: Mutex::new(slots),
            wake: Notify::new(),
        }
    }

    /// Applies `f` to the slots.
    pub fn with_slots<T>(&self, f: impl FnOnce(&mut Slots) -> T) -> T {
        match self.slots.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// A copy of the slots.
    pub fn slots(&self) -> Slots {
        self.with_slots(|s| *s)
    }

    /// For `/metrics`.
    pub fn report(&self) -> SlotReport {
        let s = self.slots();
        SlotReport {
            workloop: self.spec.key(),
            capacity: s.capacity,
            active: s.active,
            open_claims: s.open_claims,
        }
    }
}

/// Claim backoff: from `min`, ×1.15 per consecutive failure, capped at `max`, with ±10 % jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            current: min,
        }
    }

    /// The delay for this failure, then grows the next one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = self.current.mul_f64(1.15).min(self.max).max(self.min);
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        d.mul_f64(jitter).min(self.max)
    }

    /// Back to `min` (after a successful claim).
    pub fn reset(&mut self) {
        self.current = self.min;
    }

    /// The undithered next delay.
    pub fn current(&self) -> Duration {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(2));
        let d = b.next_delay();
        assert!(
            d >= Duration::from_millis(900) && d <= Duration::from_millis(1100),
            "{d:?}"
        );
        assert_eq!(b.current(), Duration::from_millis(1150));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
        assert_eq!(b.current(), Duration::from_secs(2));
        b.reset();
        assert_eq!(b.current(), Duration::from_secs(1));
    }

    /// Deterministic model check of the claim accounting: every interleaving (up to a depth)
    /// of claim starts, claim replies with 0 or 1 runs, and run completions, performed by
    /// independent actors, keeps `active + open_claims <= capacity`, never underflows, and
    /// never leaves a reserved slot behind once every claim has settled.
    #[test]
    fn model_claim_accounting_never_overcommits() {
        #[derive(Clone, Copy, Debug)]
        enum Op {
            Claim,
            ReplyEmpty,
            ReplyRun,
            Finish,
        }
        const OPS: [Op; 4] = [Op::Claim, Op::ReplyEmpty, Op::ReplyRun, Op::Finish];

        // State: the slots plus the model's own view (claims in flight, runs running).
        fn explore(s: Slots, in_flight: usize, running: usize, depth: usize, visited: &mut u64) {
            *visited += 1;
            assert!(
                s.active + s.open_claims <= s.capacity,
                "overcommitted: {s:?}"
            );
            assert_eq!(s.open_claims, in_flight, "open claims drifted: {s:?}");
            assert_eq!(s.active, running, "active drifted: {s:?}");
            if depth == 0 {
                return;
            }
            for op in OPS {
                let mut n = s;
                match op {
                    Op::Claim => {
                        let ok = n.open_claim();
                        assert_eq!(ok, s.free() > 0);
                        let f = if ok { in_flight + 1 } else { in_flight };
                        explore(n, f, running, depth - 1, visited);
                    }
                    Op::ReplyEmpty if in_flight > 0 => {
                        n.settle_claim(0);
                        explore(n, in_flight - 1, running, depth - 1, visited);
                    }
                    Op::ReplyRun if in_flight > 0 => {
                        n.settle_claim(1);
                        explore(n, in_flight - 1, running + 1, depth - 1, visited);
                    }
                    Op::Finish if running > 0 => {
                        n.finish_run();
                        explore(n, in_flight, running - 1, depth - 1, visited);
                    }
                    _ => {}
                }
            }
        }
        for capacity in 1..=3 {
            let mut visited = 0;
            explore(
                Slots {
                    capacity,
                    ..Slots::default()
                },
                0,
                0,
                9,
                &mut visited,
            );
            assert!(visited > 100, "explored {visited}");
        }
    }

    /// The same accounting driven through [`Workloop`] by concurrent tasks: many claimers
    /// racing on a current-thread runtime (a deterministic scheduler) never exceed capacity.
    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_claimers_respect_capacity() {
        let wl = std::sync::Arc::new(Workloop::new(
            0,
            WorkloopSpec {
                queues: vec!["*".into()],
                capacity: 3,
            },
        ));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..20u64 {
            let wl = wl.clone();
            let peak = peak.clone();
            tasks.push(tokio::spawn(async move {
                if !wl.with_slots(Slots::open_claim) {
                    return;
                }
                tokio::task::yield_now().await;
                let runs = usize::from(i % 2 == 0);
                wl.with_slots(|s| s.settle_claim(runs));
                let s = wl.slots();
                peak.fetch_max(
                    s.active + s.open_claims,
                    std::sync::atomic::Ordering::SeqCst,
                );
                tokio::task::yield_now().await;
                if runs == 1 {
                    wl.with_slots(Slots::finish_run);
                }
            }));
        }
        for t in tasks {
            assert!(t.await.is_ok());
        }
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
        assert!(wl.slots().idle());
    }
}
