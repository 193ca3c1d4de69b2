//! The worker half of the kit parity check, without a kit: our `ws-worker` binary (real
//! engine) runs every case of `tests/parity/worker` against our `lightning-mock` binary
//! (recording the frames it receives with `--record-wire`), and what it sent is compared with
//! the kit worker's recorded frames (`<case>/kit.json`, written by `cargo xtask parity
//! --record`). The differences must be exactly those listed in
//! `tests/parity/worker/KNOWN_DIFFERENCES`: a new one fails, and so does a listed one that is
//! gone. `PARITY_SHOW=<part of a case name>` prints the differences of those cases.
//!
//! One mock and one worker for the whole corpus; the runs go four at a time.

#[path = "../../../xtask/src/parity_case.rs"]
#[allow(dead_code, reason = "shared with the xtask, which uses more of it")]
mod parity_case;
#[path = "../../../xtask/src/parity_wire.rs"]
#[allow(dead_code, reason = "shared with the xtask, which uses more of it")]
mod parity_wire;

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use support::binary::{Procs, run_view, spawn_with};
use support::http_body;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/worker")
}

async fn post(p: &Procs, path: &str, body: &Value) {
    let (code, text) = http_body(p.mock_addr, "POST", path, Some(body))
        .await
        .unwrap_or_else(|| panic!("POST {path} failed"));
    assert!((200..300).contains(&code), "POST {path}: {code} {text}");
}

/// Waits until the run is `complete` or `lost` (the deadline covers the whole corpus).
async fn wait_final(p: &Procs, id: &str, deadline: tokio::time::Instant) -> Value {
    loop {
        let view = run_view(p, id).await;
        if matches!(view["status"].as_str(), Some("complete" | "lost")) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} did not finish: {}\n{}",
            view["status"],
            p.worker_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn known(file: &str) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(corpus().join(file))
        .unwrap_or_else(|e| panic!("read tests/parity/worker/{file}: {e}"));
    parity_case::parse_known(&text).unwrap_or_else(|e| panic!("parse {file}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_case_matches_the_kit_or_is_a_known_difference() {
    check_corpus(&[], &known(parity_case::KNOWN), &BTreeSet::new()).await;
}

/// The same corpus with the worker on the wasm tier (`--sandbox=wasm`): what Lightning sees
/// must be the kit's but for the native tier's known differences and the wasm tier's own,
/// listed in `KNOWN_DIFFERENCES_WASM` (kept exact).
#[cfg(feature = "wasm")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_worker_case_on_the_wasm_tier_matches_the_kit_or_is_a_known_difference() {
    let native = known(parity_case::KNOWN);
    let wasm = known("KNOWN_DIFFERENCES_WASM");
    check_corpus(&["--sandbox=wasm"], &native, &wasm).await;
}

/// Runs every case on one worker (with `worker_args`) against one mock and compares the wire
/// with the kit's: a difference must be in `native` or `wasm`, and every one in `wasm` must
/// still be found.
async fn check_corpus(
    worker_args: &[&str],
    native: &BTreeSet<(String, String)>,
    wasm: &BTreeSet<(String, String)>,
) {
    let cases = parity_wire::load_cases(&corpus(), None).expect("read the corpus");
    assert_eq!(cases.len(), 30, "the corpus has {} cases", cases.len());

    // The adaptor is installed from the registry on the first run, then reused.
    let repo = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-parity-repo");
    let repo_arg = format!("--repo-dir={}", repo.display());
    let mut args = vec![repo_arg.as_str(), "--capacity=4"];
    args.extend_from_slice(worker_args);
    let p = spawn_with(&["--record-wire"], &args).await;
    // Every adaptor is installed before the cases run: ours says in a run's log when it had to
    // fetch an adaptor (the kit says nothing), which a fresh build directory would show once.
    let adaptors: BTreeSet<String> = cases
        .iter()
        .flat_map(|c| c.plan()["jobs"].as_array().cloned().unwrap_or_default())
        .filter_map(|j| j["adaptor"].as_str().map(str::to_owned))
        .filter(|a| !a.is_empty())
        .collect();
    let warm_deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    for (i, adaptor) in adaptors.iter().enumerate() {
        let id = format!("warm-up-{i}");
        let plan = json!({
            "id": id, "triggers": [{"id": "t"}],
            "jobs": [{"id": "j", "adaptor": adaptor, "body": "fn(s => s);"}],
            "edges": [{"id": "e", "source_trigger_id": "t", "target_job_id": "j", "condition": "always", "enabled": true}],
            "starting_node_id": "t"
        });
        post(&p, "/run", &plan).await;
        let view = wait_final(&p, &id, warm_deadline).await;
        assert_eq!(view["reason"], "success", "installing {adaptor}: {view}");
    }
    for case in &cases {
        for (id, body) in case.seeds("credentials") {
            post(&p, "/credentials", &json!({"id": id, "body": body})).await;
        }
        for (id, body) in case.seeds("dataclips") {
            post(&p, "/dataclips", &json!({"id": id, "body": body})).await;
        }
        post(&p, "/run", &case.plan()).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    let paths = [(repo.display().to_string(), "<repo>")];
    let show = std::env::var("PARITY_SHOW").ok();
    let mut found = BTreeSet::new();
    let mut report = Vec::new();
    for case in &cases {
        let view = wait_final(&p, &case.run_id(), deadline).await;
        let wire = view["wire"].as_array().cloned().unwrap_or_default();
        let ours = parity_wire::normalise(&wire, &paths);
        let kit = case.fixture().unwrap_or_else(|| {
            panic!(
                "{}: no {} (record with cargo xtask parity --record)",
                case.name,
                parity_wire::FIXTURE
            )
        });
        let name = format!("worker/{}", case.name);
        for d in parity_wire::compare(&name, &kit, &ours) {
            let key = (d.case.clone(), d.field.clone());
            let listed = native.contains(&key) || wasm.contains(&key);
            if !listed || show.as_deref().is_some_and(|s| d.case.contains(s)) {
                let tag = if listed { "known" } else { "NEW" };
                report.push(format!(
                    "{} {} [{tag}] (- kit, + ours)\n{}",
                    d.case, d.field, d.detail
                ));
            }
            found.insert(key);
        }
    }
    // the native list is kept exact by the native run; the wasm list by the wasm run
    let exact = if wasm.is_empty() { native } else { wasm };
    for (case, field) in exact.difference(&found) {
        report.push(format!(
            "{case} {field} is listed as a known difference but matches the kit now: remove it"
        ));
    }
    assert!(
        report.iter().all(|r| r.contains("[known]")),
        "{} worker parity problem(s):\n\n{}",
        report.len(),
        report.join("\n\n")
    );
}

/// Against a mock speaking like the kit's (`--kit-quirks`), a step whose output is withheld as
/// too large has its `step:complete` refused (`no output_dataclip`). The worker sends that
/// refused event again within `--refused-retry-count` (deliberate, see the README), but never
/// re-sends an event that was answered `ok` — in particular no second `step:start` — and the
/// run goes on to the next step and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_step_complete_never_re_sends_what_was_answered() {
    let case = parity_wire::load_cases(&corpus(), Some("output-withheld"))
        .expect("read the corpus")
        .into_iter()
        .find(|c| c.name == "output-withheld")
        .expect("the output-withheld case");
    let repo = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-parity-repo");
    let repo_arg = format!("--repo-dir={}", repo.display());
    let p = spawn_with(
        &["--record-wire", "--kit-quirks"],
        &[&repo_arg, "--refused-retry-count=2"],
    )
    .await;
    post(&p, "/run", &case.plan()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let view = wait_final(&p, &case.run_id(), deadline).await;
    let wire = view["wire"].as_array().cloned().unwrap_or_default();
    let sent =
        |event: &str| -> Vec<&Value> { wire.iter().filter(|f| f["event"] == event).collect() };

    // step a's step:complete: refused, sent once and again twice (--refused-retry-count=2)
    let completes = sent("step:complete");
    let refused: Vec<_> = completes.iter().filter(|f| f["reply"] == "error").collect();
    assert_eq!(refused.len(), 3, "{wire:#?}");
    assert!(
        refused
            .iter()
            .all(|f| f["response"] == "no output_dataclip" && f["payload"]["job_id"] == "a")
    );
    // one step:start per step, and step b still ran and completed
    let starts: Vec<&str> = sent("step:start")
        .iter()
        .filter_map(|f| f["payload"]["job_id"].as_str())
        .collect();
    assert_eq!(starts, ["a", "b"], "{wire:#?}");
    assert!(
        completes
            .iter()
            .any(|f| f["payload"]["job_id"] == "b" && f["reply"] == "ok")
    );
    assert_eq!(view["reason"], "success", "{view}");
    // nothing answered `ok` was sent again
    for (i, frame) in wire.iter().enumerate() {
        if frame["reply"] != "ok" || frame["event"] == "run:log" {
            continue;
        }
        let again = wire[i + 1..]
            .iter()
            .any(|later| later["event"] == frame["event"] && later["payload"] == frame["payload"]);
        assert!(!again, "{} was answered ok and sent again", frame["event"]);
    }
}
