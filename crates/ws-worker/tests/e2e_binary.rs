//! Black-box end to end: the `ws-worker` binary against the `lightning-mock` binary, both
//! spawned as processes and driven over HTTP, as a deployment would run them.

mod support;

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

use std::time::Duration;

use serde_json::json;
use support::binary::{post_run, run_view, spawn, wait_status, wait_status_within};
use support::{http_body, http_request, job, mock_job};
use tokio::process::Command;

#[tokio::test]
async fn binary_happy_path_and_sigterm_drain() {
    // Without the workloop the worker claims only when Lightning pushes `work-available` (the
    // mock does when a run is created) or on `POST /claim`. Each push gets one claim, which
    // settles before its run starts; after SIGTERM pushes are ignored. So no claim is in flight
    // when SIGTERM arrives and what stays queued afterwards is certain (a claim already in
    // flight would rightly still take a run, as the kit does).
    let mut p = spawn(&["--no-loop"]).await;
    let id = post_run(&p, &job("export default [s => ({ data: { n: 1 } })]")).await;
    let run = wait_status(&p, &id, "complete").await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(run["final_state"], json!({"data": {"n": 1}}));

    // A run is in flight when SIGTERM arrives: it completes, then the worker exits 0. The
    // job's step has started and its timer keeps it running well past the signal; the run's
    // status read after the signal proves it was still in flight then.
    let id = post_run(
        &p,
        &job("export default [s => new Promise(r => setTimeout(() => r({ data: { drained: true } }), 1500))]"),
    )
    .await;
    support::binary::wait_step_started(&p, &id).await;
    let pid = p.worker.id().expect("pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(run_view(&p, &id).await["status"], "started");
    // The HTTP server closes at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while http_body(p.worker_addr, "GET", "/", None).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "http still up after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // No new claims after SIGTERM: this run stays queued.
    let queued = post_run(&p, &job("export default [s => s]")).await;
    let exit = tokio::time::timeout(Duration::from_secs(15), p.worker.wait())
        .await
        .expect("exits")
        .expect("status");
    assert_eq!(exit.code(), Some(0));
    let run = run_view(&p, &id).await;
    assert_eq!(run["status"], "complete", "{run}");
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(
        run["final_state"],
        json!({"data": {"drained": true}}),
        "{run}"
    );
    assert_eq!(run_view(&p, &queued).await["status"], "queued");
    let _ = p.mock.kill().await;
}

#[tokio::test]
async fn binary_socket_drop_mid_run() {
    let mut p = spawn(&[]).await;
    let (code, _) = http_body(
        p.mock_addr,
        "POST",
        "/faults",
        Some(&json!({"drop_after": 5})),
    )
    .await
    .expect("faults");
    assert_eq!(code, 200);
    let id = post_run(
        &p,
        &job("export default [s => { console.log('x'); return new Promise(r => setTimeout(() => r({ data: { ok: 1 } }), 100)); }]"),
    )
    .await;
    let run = wait_status(&p, &id, "complete").await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(run["final_state"], json!({"data": {"ok": 1}}));
    let (_, metrics) = http_request(p.worker_addr, "GET", "/metrics").await;
    assert!(
        metrics.contains("openfn_worker_reconnects_total 1"),
        "{metrics}"
    );
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

/// `--mock` serves local demos without an engine: its JSON job bodies still reach Lightning
/// as runs (the mock engine's own behaviour is documented as a test facility in the README).
#[tokio::test]
async fn binary_mock_engine_runs_json_bodies() {
    let mut p = spawn(&["--mock"]).await;
    let id = post_run(&p, &mock_job(json!({"data": {"n": 1}, "__log": "demo"}))).await;
    let run = wait_status(&p, &id, "complete").await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(run["final_state"], json!({"data": {"n": 1}}));
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

#[tokio::test]
async fn binary_refuses_to_start_without_a_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-worker"))
        .env_remove("WORKER_SECRET")
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WORKER_SECRET is not set"));
}

#[tokio::test]
async fn binary_with_the_real_engine() {
    let mut p = spawn(&[]).await;
    let mut plan = job("");
    plan["jobs"][0]["body"] =
        json!("export default [s => { console.log('hi', 1); return { data: { x: 1 } }; }]");
    let id = post_run(&p, &plan).await;
    let run = wait_status(&p, &id, "complete").await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(run["final_state"], json!({"data": {"x": 1}}));
    let logs = serde_json::to_string(&run["logs"]).unwrap_or_default();
    assert!(logs.contains("\"hi\",1"), "{logs}");

    plan["jobs"][0]["body"] = json!("fn(s => s)");
    let id = post_run(&p, &plan).await;
    let run = wait_status(&p, &id, "complete").await;
    assert_eq!(run["reason"], "crash", "{run}");
    // as the kit: the run names the runtime's wrapper, the step the JS error
    assert_eq!(run["error_type"], "RuntimeCrash", "{run}");
    assert_eq!(run["steps"][0]["error_type"], "ReferenceError", "{run}");
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

/// Collections through the real binaries: the worker adds the collections adaptor (the version
/// pinned in tests/adaptor-versions; resolving a non-exact version is tested against a fake
/// registry in collections_version.rs) to a job that mentions `collections.`, installs it from
/// the npm registry, and hands the run token and `--collections-url` to the adaptor, which writes to and
/// reads from the mock's collections API (the token is checked there).
#[tokio::test]
async fn binary_collections_end_to_end() {
    let pinned = adaptor_versions::version(adaptor_versions::COLLECTIONS);
    let collections_version = format!("--collections-version={pinned}");
    let repo = tempfile::tempdir().expect("tmp");
    let repo_arg = format!("--repo-dir={}", repo.path().display());
    let mut p = spawn(&[
        "--collections-url=http://127.0.0.1:{mock_port}/collections",
        &collections_version,
        &repo_arg,
    ])
    .await;
    let mut plan = job("");
    plan["jobs"][0]["body"] = json!(
        "collections.set('e2e-things', 'k1', { n: 1 });\ncollections.get('e2e-things', 'k1');"
    );
    let id = post_run(&p, &plan).await;
    let run = wait_status_within(&p, &id, "complete", Duration::from_secs(120)).await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(run["final_state"]["data"], json!({"n": 1}), "{run}");
    // installed once, the pinned version
    let installed: Vec<String> = std::fs::read_dir(repo.path().join("node_modules/@openfn"))
        .expect("installed adaptors")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(installed, [format!("language-collections_{pinned}")]);
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

/// `--monorepo-dir`: a step's `@local` adaptor is loaded from `<monorepo>/packages/<name>`,
/// with nothing installed.
#[tokio::test]
async fn binary_monorepo_adaptor() {
    let monorepo = tempfile::tempdir().expect("tmp");
    let common = monorepo.path().join("packages/common");
    std::fs::create_dir_all(common.join("dist")).expect("mkdir");
    std::fs::write(
        common.join("package.json"),
        r#"{"name":"@openfn/language-common","version":"9.9.9","type":"module","exports":{".":{"import":"./dist/index.js"}}}"#,
    )
    .expect("package.json");
    std::fs::write(
        common.join("dist/index.js"),
        "export const fn = (f) => (s) => f(s);\nexport const local = () => (s) => ({ ...s, data: { from: 'monorepo' } });\n",
    )
    .expect("index.js");
    let repo = tempfile::tempdir().expect("tmp");
    let mono_arg = format!("--monorepo-dir={}", monorepo.path().display());
    let repo_arg = format!("--repo-dir={}", repo.path().display());
    let mut p = spawn(&[&mono_arg, &repo_arg]).await;
    let mut plan = job("local();");
    plan["jobs"][0]["adaptor"] = json!("@openfn/language-common@local");
    let id = post_run(&p, &plan).await;
    let run = wait_status_within(&p, &id, "complete", Duration::from_secs(60)).await;
    assert_eq!(run["reason"], "success", "{run}");
    assert_eq!(
        run["final_state"],
        json!({"data": {"from": "monorepo"}}),
        "{run}"
    );
    let installed: Vec<String> = std::fs::read_dir(repo.path().join("node_modules/@openfn"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(installed.is_empty(), "nothing installed: {installed:?}");
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}

/// The run's wire events in the kit's order (§3.13, kit engine-multi and ws-worker): the
/// engine's `Memory limit` and `Timeout` lines, then `run:start`, then the worker's `Payload
/// limit` and `Versions` lines (laid out as the kit lays them out), then compile and step logs.
#[tokio::test]
async fn binary_events_in_the_kits_order() {
    let mut p = spawn(&[]).await;
    let events = support::binary::record_events(
        p.mock_addr,
        "event: run:complete".into(),
        Duration::from_secs(60),
    )
    .await;
    let mut plan = job("");
    plan["jobs"][0]["body"] = json!("export default [s => { console.log('hi'); return s; }]");
    let id = post_run(&p, &plan).await;
    wait_status(&p, &id, "complete").await;
    let text = events.await.expect("sse");
    let mut order = Vec::new();
    for block in text.split("\n\n") {
        let name = block.lines().find_map(|l| l.strip_prefix("event: "));
        let data = block.lines().find_map(|l| l.strip_prefix("data: "));
        let (Some(name), Some(data)) = (name, data) else {
            continue;
        };
        let data: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
        if data["runId"] != id.as_str() || name.starts_with("fetch:") {
            continue;
        }
        order.push(match name {
            "run:log" => format!(
                "log {}",
                data["payload"]["message"][0].as_str().unwrap_or("")
            ),
            other => other.to_string(),
        });
    }
    assert!(order.len() > 6, "{order:#?}");
    assert_eq!(order[0], "log Memory limit: 500mb", "{order:#?}");
    assert_eq!(order[1], "log Timeout: 300s", "{order:#?}");
    assert_eq!(order[2], "run:start", "{order:#?}");
    assert_eq!(order[3], "log Payload limit: 10mb", "{order:#?}");
    assert!(
        order[4].starts_with("log Versions:\n    ▸ node.js   ")
            && order[4].contains("\n    ▸ worker    "),
        "{order:#?}"
    );
    let step_start = order.iter().position(|e| e == "step:start");
    let hi = order.iter().position(|e| e == "log hi");
    assert!(step_start.is_some() && step_start < hi, "{order:#?}");
    assert_eq!(order.last().map(String::as_str), Some("run:complete"));
    let _ = p.worker.kill().await;
    let _ = p.mock.kill().await;
}
