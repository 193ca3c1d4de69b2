//! Scenarios on the worker's link to Lightning: the socket dropped during a batch, replies
//! delayed below and above the worker's message timeout, events rejected, connections refused
//! at start and mid-run. The mock stays reachable in all of them, so nothing may be lost.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::jobs;
use super::report::Row;
use super::stack::{Expect, Stack};
use super::{Env, Scenario};

/// The worker's `--message-timeout` (seconds) in the delay scenarios.
const MESSAGE_TIMEOUT_S: u64 = 2;

pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for drops in [1_usize, 5, 20] {
        out.push(Scenario::new(
            format!("drop-{drops}"),
            drops <= 5,
            move |env| Box::pin(socket_drops(env, drops)),
        ));
    }
    out.push(Scenario::new("delay-below-timeout", true, |env| {
        Box::pin(delay_below(env))
    }));
    out.push(
        Scenario::new("delay-above-timeout", true, |env| {
            Box::pin(delay_above(env))
        })
        .known("#14 item 3: a run whose join times out is given up"),
    );
    for (event, times, short) in [
        ("run:start", 1, false),
        ("run:start", 2, true),
        ("step:complete", 2, false),
    ] {
        let mut s = Scenario::new(
            format!("reject-{}-x{times}", event.replace(':', "-")),
            short,
            move |env| Box::pin(rejects(env, event, times)),
        );
        if times > 1 {
            s = s.known("#14 item 4: a rejected event is given up after one retry");
        }
        out.push(s);
    }
    out.push(Scenario::new("refuse-at-start", false, |env| {
        Box::pin(refuse_at_start(env))
    }));
    out.push(Scenario::new("refuse-mid-run", true, |env| {
        Box::pin(refuse_mid_run(env))
    }));
    out
}

fn batch_success() -> Expect {
    Expect::success(jobs::batch_data())
}

/// Injects `faults` and waits until the socket handling the `drop_after`-th next message was
/// dropped and the worker joined `worker:queue` again on a new connection.
async fn drop_and_rejoin(st: &Stack<'_>, faults: Value, within: Duration) -> Result<()> {
    let before = st.api.queue_connections().await?.first().copied();
    st.api.faults(&faults).await?;
    let deadline = Instant::now() + within;
    loop {
        let fired = st.api.current_faults().await?["drop_after"].is_null();
        let newest = st.api.queue_connections().await?.first().copied();
        if fired && newest.is_some() && newest > before {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the worker did not reconnect within {within:?} after a drop (faults {faults})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A batch of runs (each logs 5 lines 200 ms apart); the socket is dropped `drops` times while
/// runs are in flight.
async fn socket_drops(env: &Env, drops: usize) -> Result<Row> {
    let name = format!("drop-{drops}");
    let mut st = Stack::start(env, &name, &[], &[]).await?;
    let total = env.size(20, 10).max(drops);
    let per_drop = total.div_ceil(drops);
    let started = Instant::now();
    let mut enqueued = 0;
    for i in 0..drops {
        let n = per_drop.min(total - enqueued);
        for _ in 0..n {
            st.enqueue(&jobs::batch(5, 200), batch_success()).await?;
            enqueued += 1;
        }
        st.wait_in_flight(env.secs(30)).await?;
        // Vary where in the message stream the drop lands.
        let after = 2 + (i % 4) as u64;
        drop_and_rejoin(&st, json!({"drop_after": after}), env.secs(30)).await?;
    }
    st.notes.push(format!(
        "{drops} drops in {:.1}s with {total} runs",
        started.elapsed().as_secs_f64()
    ));
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(&name).await)
}

fn timeout_flag() -> Vec<String> {
    vec![format!("--message-timeout={MESSAGE_TIMEOUT_S}")]
}

/// Every reply delayed 1 s, the worker's message timeout 2 s: slow, nothing lost.
async fn delay_below(env: &Env) -> Result<Row> {
    let name = "delay-below-timeout";
    let mut st = Stack::start(env, name, &[], &timeout_flag()).await?;
    st.api.faults(&json!({"reply_delay_ms": 1000})).await?;
    for _ in 0..env.size(5, 3) {
        st.enqueue(&jobs::batch(1, 10), batch_success()).await?;
    }
    st.wait_final(env.secs(90)).await?;
    st.api.clear_faults().await?;
    Ok(st.finish(name).await)
}

/// Every reply delayed 3 s, the message timeout 2 s, while runs are claimed and joined; then
/// the delay is lifted. The claims are the worker's: every run must still complete.
async fn delay_above(env: &Env) -> Result<Row> {
    let name = "delay-above-timeout";
    let mut st = Stack::start(env, name, &[], &timeout_flag()).await?;
    st.api.faults(&json!({"reply_delay_ms": 3000})).await?;
    for _ in 0..env.size(5, 3) {
        st.enqueue(&jobs::batch(2, 100), batch_success()).await?;
    }
    // Wait until every run was claimed and its channel join reached the mock.
    let deadline = Instant::now() + env.secs(40);
    let ids = st.ids();
    while !ids.iter().all(|id| st.tracker.get(id).joins > 0) {
        if Instant::now() >= deadline {
            st.notes
                .push("not every run was joined while replies were delayed".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The fault window: the join replies arrive after the worker's timeout.
    tokio::time::sleep(Duration::from_secs(MESSAGE_TIMEOUT_S + 2)).await;
    st.api.clear_faults().await?;
    let cleared = Instant::now();
    st.wait_final(env.secs(30)).await?;
    st.notes.push(format!(
        "replies delayed 3 s past a {MESSAGE_TIMEOUT_S} s timeout; waited {:.1}s for the runs after the delay was lifted",
        cleared.elapsed().as_secs_f64()
    ));
    Ok(st.finish(name).await)
}

/// `event` rejected `times` times for each of a few runs, one run at a time (so the rejections
/// hit one run's retries, not several runs' first attempts).
async fn rejects(env: &Env, event: &'static str, times: u32) -> Result<Row> {
    let name = format!("reject-{}-x{times}", event.replace(':', "-"));
    let mut st = Stack::start(env, &name, &[], &[]).await?;
    for _ in 0..env.size(3, 2) {
        st.api.clear_faults().await?;
        st.api.faults(&json!({"reject": {event: times}})).await?;
        st.enqueue(&jobs::batch(2, 50), batch_success()).await?;
        st.wait_final(env.secs(30)).await?;
    }
    let left = st.api.current_faults().await?;
    if left["reject"].get(event).is_some() {
        st.notes
            .push(format!("rejections left unused: {}", left["reject"]));
    }
    st.api.clear_faults().await?;
    Ok(st.finish(&name).await)
}

/// The mock refuses WebSocket upgrades for 3 s from its start; the worker starts in that
/// window with runs already queued.
async fn refuse_at_start(env: &Env) -> Result<Row> {
    let name = "refuse-at-start";
    let refuse = ["--refuse-connections-ms".to_owned(), "3000".to_owned()];
    let mut st = Stack::start_cold(env, name, &refuse, &[]).await?;
    let started = Instant::now();
    for _ in 0..env.size(5, 3) {
        st.enqueue(&jobs::batch(2, 100), batch_success()).await?;
    }
    st.wait_ready(0).await?;
    st.notes.push(format!(
        "worker joined {:.1}s after start (3 s refused); RSS compared with no warm baseline: not checked",
        started.elapsed().as_secs_f64()
    ));
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}

/// With runs in flight the socket is dropped and reconnections are refused for 3 s.
async fn refuse_mid_run(env: &Env) -> Result<Row> {
    let name = "refuse-mid-run";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    for _ in 0..env.size(5, 3) {
        st.enqueue(&jobs::batch(5, 200), batch_success()).await?;
    }
    st.wait_in_flight(env.secs(30)).await?;
    let started = Instant::now();
    let faults = json!({"refuse_connections_ms": 3000, "drop_after": 2});
    drop_and_rejoin(&st, faults, env.secs(40)).await?;
    st.notes.push(format!(
        "worker back {:.1}s after the drop (3 s refused)",
        started.elapsed().as_secs_f64()
    ));
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}
