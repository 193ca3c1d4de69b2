//! Scenarios about the worker as a long-lived process among others: a 2,000-run soak (RSS and
//! open fds at start, 1k and 2k), two workers on one mock (no run executed twice), and SIGTERM
//! with runs in flight (drained, exit 0).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use super::harness;
use super::jobs;
use super::report::Row;
use super::stack::{Expect, Stack, mb};
use super::{Env, Scenario};

/// How many more fds than at the start the worker may hold after the soak (read once they
/// settle: engine children retired and respawned hold pipes for a moment).
const FD_SLACK: usize = 10;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("soak", true, |env| Box::pin(soak(env))),
        Scenario::new("two-workers", true, |env| Box::pin(two_workers(env))),
        Scenario::new("sigterm-drain", true, |env| Box::pin(sigterm(env))),
    ]
}

/// 2,000 short runs (200 in the short form) in two halves; RSS and fds at the start and after
/// each half.
async fn soak(env: &Env) -> Result<Row> {
    let name = "soak";
    let total = env.size(2000, 200);
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let pid = st.worker_pid();
    let mut figures = vec![(0, harness::rss_kb(pid), harness::open_fds(pid))];
    let started = std::time::Instant::now();
    for half in 1..=2 {
        for _ in 0..total / 2 {
            st.enqueue(&jobs::batch(1, 1), Expect::success(jobs::batch_data()))
                .await?;
        }
        st.wait_final(env.secs(600)).await?;
        let start_fds = figures[0].2.unwrap_or(0);
        let fds = harness::settled_fds(pid, start_fds + FD_SLACK, env.secs(10)).await;
        figures.push((half * total / 2, harness::rss_kb(pid), fds));
    }
    let secs = started.elapsed().as_secs_f64();
    let show = |f: &[(usize, Option<u64>, Option<usize>)]| {
        f.iter()
            .map(|(n, rss, fds)| {
                format!(
                    "{n}: {} MB / {} fds",
                    rss.map_or("?".into(), |r| format!("{:.1}", mb(r))),
                    fds.map_or("?".into(), |f| f.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    st.notes.push(format!("RSS / fds at {}", show(&figures)));
    st.notes.push(format!(
        "{total} runs in {secs:.1}s ({:.0} runs/s)",
        total as f64 / secs
    ));
    if let (Some(first), Some(last)) = (figures[0].2, figures[2].2)
        && last > first + FD_SLACK
    {
        st.failures.push(format!(
            "open fds grew from {first} to {last} over the soak"
        ));
    }
    Ok(st.finish(name).await)
}

/// Two workers claim from one mock; every run is executed exactly once.
async fn two_workers(env: &Env) -> Result<Row> {
    let name = "two-workers";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    st.add_worker("worker2", &[]).await?;
    st.wait_ready(1).await?;
    for _ in 0..env.size(60, 20) {
        st.enqueue(&jobs::batch(2, 50), Expect::success(jobs::batch_data()))
            .await?;
    }
    st.wait_final(env.secs(120)).await?;
    let mut by_worker: BTreeMap<String, usize> = BTreeMap::new();
    for rec in st.records() {
        *by_worker
            .entry(rec.worker.clone().unwrap_or_else(|| "?".into()))
            .or_default() += 1;
    }
    st.notes.push(format!("runs per worker: {by_worker:?}"));
    let reclaimed = st
        .ids()
        .iter()
        .filter(|id| st.tracker.get(id).claims > 1)
        .count();
    if reclaimed > 0 {
        st.notes
            .push(format!("{reclaimed} run(s) claimed more than once"));
    }
    Ok(st.finish(name).await)
}

/// SIGTERM while runs are in flight: they complete, then the worker exits 0.
async fn sigterm(env: &Env) -> Result<Row> {
    let name = "sigterm-drain";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    for _ in 0..env.size(5, 3) {
        st.enqueue(&jobs::batch(5, 300), Expect::success(jobs::batch_data()))
            .await?;
    }
    st.wait_started(env.secs(30)).await?;
    let pid = st.worker_pid();
    st.peak = harness::hwm_kb(pid);
    st.expected_exits.push(("worker".into(), 0));
    st.workers[0].signal("TERM")?;
    let started = std::time::Instant::now();
    match st.workers[0].wait_exit(env.secs(60)).await {
        Some(status) => st.notes.push(format!(
            "exited {status} {:.1}s after SIGTERM",
            started.elapsed().as_secs_f64()
        )),
        None => {
            st.failures
                .push("the worker did not exit within 60 s of SIGTERM".into());
            st.workers[0].signal("KILL")?;
            st.workers[0].wait_exit(Duration::from_secs(5)).await;
        }
    }
    st.wait_final(env.secs(10)).await?;
    Ok(st.finish(name).await)
}
