//! Scenarios where a run misbehaves: its engine child SIGKILLed, out of memory, an infinite
//! loop, a 200k-line log storm, a 20 MB final state, 10 MB and 30 MB input dataclips. The
//! misbehaving run ends with its own reason; runs beside it succeed and the worker survives.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;
use tokio::time::Instant;

use super::harness;
use super::jobs;
use super::report::Row;
use super::stack::{Expect, Stack};
use super::{Env, Scenario};

pub fn scenarios() -> Vec<Scenario> {
    let mut out = vec![
        Scenario::new("engine-sigkill", true, |env| Box::pin(engine_sigkill(env))),
        Scenario::new("oom", true, |env| Box::pin(oom(env))),
        Scenario::new("infinite-loop", true, |env| Box::pin(infinite_loop(env))),
        Scenario::new("log-storm", true, |env| Box::pin(log_storm(env)))
            .known("#14 item 6: the worker keeps a log storm's memory"),
        Scenario::new("final-state-20mb", true, |env| Box::pin(big_state(env))),
    ];
    out.push(
        Scenario::new("dataclip-10mb", true, |env| Box::pin(dataclip(env, 10)))
            .known("#14 item 6: memory is not returned after a big run"),
    );
    out.push(
        Scenario::new("dataclip-30mb", true, |env| Box::pin(dataclip(env, 30)))
            .known("#14 item 1: a dataclip over 16 MiB takes the worker offline"),
    );
    out
}

/// Runs beside the misbehaving one: they must succeed.
async fn bystanders(st: &mut Stack<'_>, n: usize) -> Result<()> {
    for _ in 0..n {
        st.enqueue(&jobs::batch(5, 200), Expect::success(jobs::batch_data()))
            .await?;
    }
    Ok(())
}

/// The engine process under the worker that is burning CPU (a pooled child, or a run forked
/// from a warm template): descendants' CPU time sampled 300 ms apart until one clearly spins.
async fn spinning_child(worker: u32, within: Duration) -> Result<u32> {
    let deadline = Instant::now() + within;
    loop {
        let first = harness::descendants(worker);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = harness::descendants(worker);
        let mut deltas: Vec<(u64, u32)> = second
            .iter()
            .map(|(pid, cpu)| {
                let was = first
                    .iter()
                    .find(|(p, _)| p == pid)
                    .map_or(*cpu, |(_, c)| *c);
                (cpu.saturating_sub(was), *pid)
            })
            .collect();
        deltas.sort_unstable();
        // At least 0.1 s of the 0.3 s (100 ticks/s), and the only child doing much.
        if let Some(&(top, pid)) = deltas.last()
            && top >= 10
            && deltas.iter().rev().nth(1).is_none_or(|(d, _)| *d * 3 < top)
        {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            bail!("no engine child of {worker} was spinning: {deltas:?}");
        }
    }
}

/// A run spinning in its engine child; the child is SIGKILLed. Only that run fails (crash,
/// `ExitError`); the runs beside it succeed.
async fn engine_sigkill(env: &Env) -> Result<Row> {
    let name = "engine-sigkill";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let victim = st
        .enqueue(
            &jobs::spin(60_000),
            Expect::failure(&["crash"], "ExitError"),
        )
        .await?;
    bystanders(&mut st, env.size(4, 2)).await?;
    st.wait_started(env.secs(30)).await?;
    let pid = spinning_child(st.worker_pid(), env.secs(20)).await?;
    harness::send_signal(pid, "KILL")?;
    st.notes.push(format!(
        "engine child {pid} of run {} SIGKILLed",
        super::stack::short(&victim)
    ));
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}

/// `--run-memory 128` and a job allocating without end: that run is killed (`OOMError`).
async fn oom(env: &Env) -> Result<Row> {
    let name = "oom";
    let args = ["--run-memory=128".to_owned()];
    let mut st = Stack::start(env, name, &[], &args).await?;
    st.enqueue(&jobs::allocate(), Expect::failure(&["kill"], "OOMError"))
        .await?;
    bystanders(&mut st, env.size(4, 2)).await?;
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}

/// A job that never returns, with a 2 s run timeout: killed (`TimeoutError`).
async fn infinite_loop(env: &Env) -> Result<Row> {
    let name = "infinite-loop";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    st.enqueue(
        &jobs::infinite_loop(2000),
        Expect::failure(&["kill"], "TimeoutError"),
    )
    .await?;
    bystanders(&mut st, env.size(4, 2)).await?;
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}

/// One run logging 200,000 lines (50,000 in the short form): all recorded, and the worker
/// gives the memory back.
async fn log_storm(env: &Env) -> Result<Row> {
    let name = "log-storm";
    let lines = env.size(200_000, 50_000);
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let mut expect = Expect::success(json!({"lines": lines}));
    expect.min_logs = lines;
    let started = Instant::now();
    st.enqueue(&jobs::log_storm(u32::try_from(lines)?), expect)
        .await?;
    st.wait_final(env.secs(300)).await?;
    st.notes.push(format!(
        "{lines} lines recorded by the mock in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(st.finish(name).await)
}

/// A run whose final state is 20 MB (over the 10 MB payload limit, so Lightning gets the
/// dataclip withheld, as the kit does): the run succeeds and the worker stays up.
async fn big_state(env: &Env) -> Result<Row> {
    let name = "final-state-20mb";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let mut expect = Expect::success(json!(null));
    expect.data = None;
    let id = st.enqueue(&jobs::big_state(20_000_000), expect).await?;
    bystanders(&mut st, env.size(2, 1)).await?;
    st.wait_final(env.secs(60)).await?;
    let rec = st.api.run(&id).await?;
    st.notes.push(format!(
        "final data at the mock: {}",
        if rec.final_data.is_null() {
            "none".to_owned()
        } else {
            rec.final_data.to_string()
        }
    ));
    Ok(st.finish(name).await)
}

/// A run whose input dataclip is `mb` MB; the job returns the length it read. Runs enqueued
/// after it must not stall, and the worker must stay joined. An input too big for the worker
/// may fail that run (with a reason), never the connection.
async fn dataclip(env: &Env, mb: usize) -> Result<Row> {
    let name = format!("dataclip-{mb}mb");
    let bytes = mb * 1_000_000;
    let mut st = Stack::start(env, &name, &[], &[]).await?;
    let clip = format!("chaos-{mb}mb");
    st.api
        .add_dataclip(&clip, &jobs::big_dataclip(bytes))
        .await
        .context("storing the dataclip")?;
    let expect = Expect {
        reasons: &["success", "fail", "crash", "exception", "kill"],
        error_type: None,
        data: Some(json!({"len": bytes})),
        min_logs: 0,
        needs_start: true,
    };
    st.enqueue(&jobs::measure_input(&clip), expect).await?;
    bystanders(&mut st, env.size(3, 2)).await?;
    st.wait_final(env.secs(60)).await?;
    if harness::wait_http(&mut st.workers[0], "/readyz", env.secs(5))
        .await
        .is_err()
    {
        st.failures
            .push("the worker is not joined to worker:queue after the scenario (/readyz)".into());
    }
    Ok(st.finish(&name).await)
}
