//! Single-worker scenarios: the happy path on the real language-common, edges and conditions,
//! credentials, input dataclips, the error classes, the payload limit, and workloops with
//! priorities. Each checks the mock's record of the runs (reason, error type, final data, steps,
//! dataclips, logs) against the expectations in `plans`.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use super::plans;
use crate::chaos::report::Row;
use crate::chaos::stack::{Expect, Stack, short};
use crate::chaos::{Env, Scenario};

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new("happy-path", true, |env| Box::pin(happy(env))),
        Scenario::new("edges-and-conditions", true, |env| Box::pin(edges(env))),
        Scenario::new("credentials", true, |env| Box::pin(credentials(env))),
        Scenario::new("input-dataclip", true, |env| Box::pin(dataclip(env))),
        Scenario::new("error-classes", true, |env| Box::pin(errors(env))),
        Scenario::new("payload-limit", true, |env| Box::pin(payload(env))),
        Scenario::new("workloops-priority", true, |env| Box::pin(workloops(env))),
    ]
}

/// Installs from the npm registry happen on the first run of a fresh worker.
fn install_wait(env: &Env) -> Duration {
    env.secs(120)
}

/// Steps the mock recorded for `id`, as `job_id`s in the order they started.
async fn step_jobs(st: &Stack<'_>, id: &str) -> Result<Vec<String>> {
    let view = st.api.view(id).await?;
    Ok(view["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .filter_map(|s| s["job_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// The text of every log line the mock recorded for `id`.
async fn log_text(st: &Stack<'_>, id: &str) -> Result<String> {
    let view = st.api.view(id).await?;
    Ok(view["logs"]
        .as_array()
        .map(|logs| {
            logs.iter()
                .map(|l| l["message"].to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default())
}

async fn happy(env: &Env) -> Result<Row> {
    let name = "happy-path";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let plan = plans::workflow(
        "j",
        vec![plans::job("j", &plans::common(), plans::HAPPY_JOB)],
        vec![],
    );
    let id = st
        .enqueue(&plan, Expect::success(plans::happy_data()))
        .await?;
    st.wait_final(install_wait(env)).await?;
    let logs = log_text(&st, &id).await?;
    if !logs.contains("@openfn/language-common") {
        st.failures
            .push(format!("run {}: no log line names the adaptor", short(&id)));
    }
    Ok(st.finish(name).await)
}

async fn edges(env: &Env) -> Result<Row> {
    let name = "edges-and-conditions";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    let id = st
        .enqueue(
            &plans::edges_workflow(),
            Expect::success(plans::edges_data()),
        )
        .await?;
    st.wait_final(install_wait(env)).await?;
    let jobs = step_jobs(&st, &id).await?;
    if jobs != ["a", "b", "d"] {
        st.failures.push(format!(
            "steps {jobs:?} ran, expected a, b, d (c and e not)"
        ));
    }
    Ok(st.finish(name).await)
}

async fn credentials(env: &Env) -> Result<Row> {
    let name = "credentials";
    let secret = "pw-9f3k2-e2e";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    st.api
        .add_credential("cred-1", &json!({"user": "u", "password": secret}))
        .await?;
    let mut plan = plans::js(
        "export default [s => { console.log('configuration', s.configuration); \
         return { data: { user: s.configuration.user, length: s.configuration.password.length } }; }]",
    );
    plan["jobs"][0]["credential_id"] = json!("cred-1");
    let id = st
        .enqueue(&plan, Expect::success(json!({"user": "u", "length": 12})))
        .await?;
    // A credential that does not exist: the run ends before it starts, as an exception.
    let mut missing = plans::js("export default [s => s]");
    missing["jobs"][0]["credential_id"] = json!("no-such-credential");
    st.enqueue(&missing, Expect::before_start("CredentialLoadError"))
        .await?;
    st.wait_final(env.secs(30)).await?;
    let view = st.api.view(&id).await?;
    if view["final_state"].get("configuration").is_some() {
        st.failures
            .push("the final state kept `configuration`".into());
    }
    if log_text(&st, &id).await?.contains(secret) {
        st.failures
            .push("a log line Lightning recorded holds the credential's password".into());
    }
    Ok(st.finish(name).await)
}

async fn dataclip(env: &Env) -> Result<Row> {
    let name = "input-dataclip";
    let mut st = Stack::start(env, name, &[], &[]).await?;
    st.api
        .add_dataclip("dc-in", &json!({"data": {"items": [1, 2, 3]}}))
        .await?;
    let mut plan = plans::js(
        "export default [s => ({ data: { sum: s.data.items.reduce((a, b) => a + b, 0) } })]",
    );
    plan["dataclip_id"] = json!("dc-in");
    st.enqueue(&plan, Expect::success(json!({"sum": 6})))
        .await?;
    let mut missing = plans::js("export default [s => s]");
    missing["dataclip_id"] = json!("no-such-dataclip");
    st.enqueue(&missing, Expect::before_start("DataClipError"))
        .await?;
    st.wait_final(env.secs(30)).await?;
    Ok(st.finish(name).await)
}

async fn errors(env: &Env) -> Result<Row> {
    let name = "error-classes";
    let mut st = Stack::start(env, name, &[], &["--run-memory".into(), "64".into()]).await?;
    let cases: [(&str, &'static [&'static str], &'static str); 6] = [
        (
            "export default [s => { throw new Error('nope'); }]",
            &["fail"],
            "JobError",
        ),
        (
            "export default [s => s.data.missing.deeper]",
            &["fail"],
            "RuntimeError",
        ),
        (
            "export default [s => notDefinedAnywhere]",
            &["crash"],
            "RuntimeCrash",
        ),
        ("fn(state => {", &["crash"], "CompileError"),
        (
            "export default [s => { const keep = []; for (;;) { keep.push('x'.repeat(1 << 20) + keep.length); } }]",
            &["kill"],
            "OOMError",
        ),
        (
            "export default [s => { eval('1'); return s; }]",
            &["kill"],
            "SecurityError",
        ),
    ];
    for (body, reason, error_type) in cases {
        st.enqueue(&plans::js(body), Expect::failure(reason, error_type))
            .await?;
    }
    let mut slow = plans::js("export default [s => { for (;;) {} }]");
    slow["options"]["run_timeout_ms"] = json!(1000);
    st.enqueue(&slow, Expect::failure(&["kill"], "TimeoutError"))
        .await?;
    st.wait_final(env.secs(60)).await?;
    Ok(st.finish(name).await)
}

async fn payload(env: &Env) -> Result<Row> {
    let name = "payload-limit";
    let mut st = Stack::start(env, name, &[], &["--payload-memory".into(), "1".into()]).await?;
    // Two steps: the first output (2 MB) is over the limit and withheld, the second is small.
    let plan = plans::workflow(
        "big",
        vec![
            plans::job(
                "big",
                "",
                "export default [s => ({ data: { blob: 'x'.repeat(2 * 1024 * 1024) } })]",
            ),
            plans::job(
                "small",
                "",
                "export default [s => ({ data: { length: s.data.blob.length } })]",
            ),
        ],
        vec![plans::edge("big", "small", "on_job_success")],
    );
    let id = st
        .enqueue(&plan, Expect::success(json!({"length": 2 * 1024 * 1024})))
        .await?;
    st.wait_final(env.secs(60)).await?;
    let view = st.api.view(&id).await?;
    let steps = view["steps"].as_array().cloned().unwrap_or_default();
    let big = steps.iter().find(|s| s["job_id"] == "big");
    match big {
        Some(step) if step["output_dataclip_error"] == "DATACLIP_TOO_LARGE" => {
            if step.get("output_dataclip").is_some_and(|v| !v.is_null()) {
                st.failures
                    .push("the withheld step still sent its output_dataclip".into());
            }
        }
        other => st.failures.push(format!(
            "the 2 MB step was not withheld as DATACLIP_TOO_LARGE: {}",
            other.map_or(Value::Null, |s| s["output_dataclip_error"].clone())
        )),
    }
    if !log_text(&st, &id)
        .await?
        .contains("Dataclip exceeds payload limit")
    {
        st.failures
            .push("no `Dataclip exceeds payload limit` log line".into());
    }
    Ok(st.finish(name).await)
}

/// A fast lane of one slot next to a manual lane of one: a run on `fast_lane` is claimed and
/// finishes while the manual lane is busy; and in the manual lane an `immediate` run enqueued
/// after two normal ones starts before them.
async fn workloops(env: &Env) -> Result<Row> {
    let name = "workloops-priority";
    let args = ["--workloops".to_string(), "fast_lane:1 manual:1".into()];
    let mut st = Stack::start_cold(env, name, &[], &args).await?;
    st.wait_ready(0).await?;
    let blocker = plans::js(
        "export default [async s => { await new Promise(r => setTimeout(r, 1500)); return { data: { lane: 'blocker' } }; }]",
    );
    let quick = |tag: &str| {
        plans::js(&format!(
            "export default [s => ({{ data: {{ tag: '{tag}' }} }})]"
        ))
    };
    let blocker_id = st
        .enqueue_to(
            &blocker,
            "queue=manual",
            Expect::success(json!({"lane": "blocker"})),
        )
        .await?;
    st.wait_started(env.secs(30)).await?;
    let normal1 = st
        .enqueue_to(
            &quick("n1"),
            "queue=manual",
            Expect::success(json!({"tag": "n1"})),
        )
        .await?;
    let normal2 = st
        .enqueue_to(
            &quick("n2"),
            "queue=manual",
            Expect::success(json!({"tag": "n2"})),
        )
        .await?;
    let urgent = st
        .enqueue_to(
            &quick("now"),
            "queue=manual&priority=immediate",
            Expect::success(json!({"tag": "now"})),
        )
        .await?;
    let fast = st
        .enqueue_to(
            &quick("fast"),
            "queue=fast_lane",
            Expect::success(json!({"tag": "fast"})),
        )
        .await?;
    st.wait_final(env.secs(60)).await?;
    let time = |v: &Value, k: &str| v["times"][k].as_u64().unwrap_or(u64::MAX);
    let b = st.api.view(&blocker_id).await?;
    let f = st.api.view(&fast).await?;
    if time(&f, "finished_at") > time(&b, "finished_at") {
        st.failures
            .push("the fast-lane run waited for the busy manual lane".into());
    }
    let u = time(&st.api.view(&urgent).await?, "claimed_at");
    for normal in [&normal1, &normal2] {
        if u > time(&st.api.view(normal).await?, "claimed_at") {
            st.failures.push(format!(
                "normal run {} was claimed before the immediate one",
                short(normal)
            ));
        }
    }
    Ok(st.finish(name).await)
}
