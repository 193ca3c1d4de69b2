//! The worker half of `cargo xtask parity`: one `lightning-mock` (ours, recording every
//! run-channel frame with `--record-wire`), the kit's ws-worker and then ours against it, one
//! at a time, every case of `tests/parity/worker` posted through the mock's dev API. The frames
//! each worker sent are normalised (`parity_wire`) and compared; `--record` writes the kit's
//! as `<case>/kit.json`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::parity_case::Difference;
use crate::parity_wire::{self, WorkerCase};

/// The worker secret the mock and both workers share.
const SECRET: &str = "parity-secret";
/// How long one worker may take over the whole corpus.
const CORPUS_TIMEOUT: Duration = Duration::from_secs(300);
/// How many more times cases whose kit recording repeats a log line run through the kit.
const KIT_REPEAT_ATTEMPTS: usize = 4;

/// What the worker half compares, per case: `(case, kit frames, our frames)`.
pub struct WorkerOutcome {
    pub cases: Vec<WorkerCase>,
    pub kit: Vec<Vec<Value>>,
    pub ours: Vec<Vec<Value>>,
}

/// Runs the worker corpus (cases whose name contains `filter`) through the kit's worker and
/// ours, against one mock; `root` is the workspace (binaries in `target/debug`).
pub fn run(kit_dir: &Path, root: &Path, filter: Option<&str>) -> Result<WorkerOutcome> {
    let kit_start = kit_dir.join("packages/ws-worker/dist/start.js");
    if !kit_start.is_file() {
        bail!("{} not found: build the kit first", kit_start.display());
    }
    let cases = parity_wire::load_cases(&root.join("tests/parity/worker"), filter)?;
    let bin = root.join("target/debug");
    let scratch = root.join("target/parity");
    std::fs::create_dir_all(&scratch)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mock_port = free_port()?;
    let mut mock = Command::new(bin.join("lightning-mock"))
        .args(["--port", &mock_port.to_string(), "--secret", SECRET])
        .args(["--record-wire", "--log", "warn"])
        .stdout(Stdio::null())
        .spawn()
        .context("starting lightning-mock")?;
    let result = rt.block_on(async {
        let api = Api::new(mock_port);
        api.wait_live().await?;
        let kit_worker = |port: u16| {
            let mut c = Command::new("node");
            c.arg(&kit_start)
                .args(worker_args(mock_port, port, 1))
                .arg("--repo-dir")
                .arg(scratch.join("worker-kit-repo"));
            c
        };
        let ours = |port: u16| {
            let mut c = Command::new(bin.join("ws-worker"));
            c.args(worker_args(mock_port, port, 4))
                .arg("--repo-dir")
                .arg(scratch.join("worker-repo"));
            c
        };
        let paths = [
            (
                scratch.join("worker-kit-repo").display().to_string(),
                "<repo>",
            ),
            (scratch.join("worker-repo").display().to_string(), "<repo>"),
        ];
        let kit_log = scratch.join("kit-worker.log");
        let mut kit = run_corpus(&api, &cases, &kit_worker, &kit_log, &paths).await?;
        // The kit's worker now and then sends one `run:log` frame twice (the same payload, to
        // the microsecond): run such cases through it again, so that its recordings do not
        // keep the repeat.
        for _ in 0..KIT_REPEAT_ATTEMPTS {
            let again: Vec<usize> = (0..cases.len())
                .filter(|&i| parity_wire::repeated_log_line(&kit[i]).is_some())
                .collect();
            if again.is_empty() {
                break;
            }
            let subset: Vec<WorkerCase> = again.iter().map(|&i| cases[i].clone()).collect();
            println!(
                "the kit's worker repeated a log line in {} case(s): running them again",
                subset.len()
            );
            let rerun = run_corpus(&api, &subset, &kit_worker, &kit_log, &paths).await?;
            for (i, frames) in again.into_iter().zip(rerun) {
                if parity_wire::repeated_log_line(&frames).is_none() {
                    kit[i] = frames;
                }
            }
        }
        let our_log = scratch.join("our-worker.log");
        let mine = run_corpus(&api, &cases, &ours, &our_log, &paths).await?;
        anyhow::Ok((kit, mine))
    });
    let _ = mock.kill();
    let _ = mock.wait();
    let (kit, ours) = result?;
    // Both sides' normalised frames, for a closer look than the diff gives.
    for (side, frames) in [("kit", &kit), ("ours", &ours)] {
        let dir = scratch.join("worker").join(side);
        std::fs::create_dir_all(&dir)?;
        for (case, frames) in cases.iter().zip(frames) {
            let path = dir.join(format!("{}.json", case.name));
            std::fs::write(path, parity_wire::fixture_text(frames))?;
        }
    }
    Ok(WorkerOutcome { cases, kit, ours })
}

/// The flags both workers take alike.
/// `capacity`: the kit's worker gets 1, so that its slow start-up under load (several seconds
/// for the first compile) does not eat the `run-timeout` case's timeout; ours 4, as in CI.
fn worker_args(mock_port: u16, port: u16, capacity: u32) -> Vec<String> {
    vec![
        "-l".into(),
        format!("ws://localhost:{mock_port}/worker"),
        "--port".into(),
        port.to_string(),
        "--secret".into(),
        SECRET.into(),
        "--backoff".into(),
        "0.01/0.1".into(),
        "--capacity".into(),
        capacity.to_string(),
        "--log".into(),
        "info".into(),
    ]
}

/// Compares, prints and (with `record`) records; returns `(cases, differing, new)`.
pub fn report(
    outcome: &WorkerOutcome,
    known: &std::collections::BTreeSet<(String, String)>,
    record: bool,
) -> Result<(usize, usize, usize)> {
    let (mut differing, mut new) = (0, 0);
    for (i, case) in outcome.cases.iter().enumerate() {
        // The kit's worker now and then sends one log line twice in a row; such a recording
        // is not kept (record again: the next run of the case does not repeat it).
        let repeat = parity_wire::repeated_log_line(&outcome.kit[i]);
        if let Some(line) = &repeat {
            println!(
                "NOTE  worker/{}: the kit sent `{line}` twice in a row; {}",
                case.name,
                if record {
                    "not recorded, run --record again"
                } else {
                    "its differences may include that repeat"
                }
            );
        }
        if record && repeat.is_none() {
            std::fs::write(
                case.dir.join(parity_wire::FIXTURE),
                parity_wire::fixture_text(&outcome.kit[i]),
            )
            .with_context(|| format!("writing worker/{}/kit.json", case.name))?;
        }
        let name = format!("worker/{}", case.name);
        let diffs: Vec<Difference> = parity_wire::compare(&name, &outcome.kit[i], &outcome.ours[i]);
        if diffs.is_empty() {
            println!("ok    {name}");
            continue;
        }
        differing += 1;
        println!("DIFF  {name}");
        for d in diffs {
            let listed = known.contains(&(d.case.clone(), d.field.clone()));
            new += usize::from(!listed);
            let tag = if listed { "known" } else { "NEW" };
            println!("  -- {} [{tag}] (- kit, + ours)", d.field);
            for line in d.detail.lines() {
                println!("    {line}");
            }
        }
    }
    Ok((outcome.cases.len(), differing, new))
}

/// Resets the mock, seeds and posts every case, starts the worker, waits for every run to end
/// and returns each run's normalised frames (in case order).
async fn run_corpus(
    api: &Api,
    cases: &[WorkerCase],
    worker: impl Fn(u16) -> Command,
    log: &Path,
    paths: &[(String, &'static str)],
) -> Result<Vec<Vec<Value>>> {
    let started = Instant::now();
    api.post("/reset", &json!({})).await?;
    for case in cases {
        for (id, body) in case.seeds("credentials") {
            api.post("/credentials", &json!({"id": id, "body": body}))
                .await?;
        }
        for (id, body) in case.seeds("dataclips") {
            api.post("/dataclips", &json!({"id": id, "body": body}))
                .await?;
        }
        api.post("/run", &case.plan()).await?;
    }
    let port = free_port()?;
    let log_file = std::fs::File::create(log)?;
    let mut cmd = worker(port);
    let mut child: Child = cmd
        .env("WORKER_SECRET", SECRET)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .context("starting a worker")?;
    let waited = wait_all(api, cases).await;
    let _ = child.kill();
    let _ = child.wait();
    let views = waited.with_context(|| format!("worker log: {}", log.display()))?;
    println!(
        "{} runs in {:.1}s (worker log: {})",
        cases.len(),
        started.elapsed().as_secs_f64(),
        log.display()
    );
    Ok(views
        .iter()
        .map(|v| {
            let wire = v["wire"].as_array().cloned().unwrap_or_default();
            parity_wire::normalise(&wire, paths)
        })
        .collect())
}

async fn wait_all(api: &Api, cases: &[WorkerCase]) -> Result<Vec<Value>> {
    let deadline = Instant::now() + CORPUS_TIMEOUT;
    let mut views = Vec::new();
    for case in cases {
        loop {
            let view = api.get(&format!("/runs/{}", case.run_id())).await?;
            if matches!(view["status"].as_str(), Some("complete" | "lost")) {
                views.push(view);
                break;
            }
            if Instant::now() > deadline {
                bail!("run of {} did not finish: {}", case.name, view["status"]);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(views)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(port: u16) -> Self {
        Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    async fn wait_live(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(format!("{}/livez", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("lightning-mock did not come up")
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let value: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {value}");
        }
        Ok(value)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await?
            .json()
            .await?)
    }
}

/// The kit's own mock refuses a `step:complete` whose output was withheld as too large. Runs
/// the `output-withheld` case with the kit's worker and ours against it (`parity_kit_mock.mjs`)
/// and returns the problems: an event sent again that the kit mock answers `ok` (everything but
/// that refused `step:complete`, which ours sends again within `--refused-retry-count` by
/// design), or an order of events other than the kit worker's.
pub fn kit_mock_pass(kit_dir: &Path, root: &Path) -> Result<Vec<String>> {
    let cases =
        parity_wire::load_cases(&root.join("tests/parity/worker"), Some("output-withheld"))?;
    let case = cases.first().context("no output-withheld case")?;
    let scratch = root.join("target/parity");
    let script = root.join("xtask/src/parity_kit_mock.mjs");
    let plan = case.plan().to_string();
    let kit_start = kit_dir.join("packages/ws-worker/dist/start.js");
    let mut runs = Vec::new();
    for (side, repo) in [("kit", "worker-kit-repo"), ("ours", "worker-repo")] {
        let port = free_port()?;
        let events_path = scratch.join(format!("kit-mock-{side}.jsonl"));
        let mut mock = Command::new("node")
            .arg(&script)
            .arg(kit_dir)
            .arg(port.to_string())
            .arg(&plan)
            .stdout(std::fs::File::create(&events_path)?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting the kit's lightning-mock")?;
        let mut worker = if side == "kit" {
            let mut c = Command::new("node");
            c.arg(&kit_start);
            c
        } else {
            Command::new(root.join("target/debug/ws-worker"))
        };
        let log = std::fs::File::create(scratch.join(format!("kit-mock-{side}-worker.log")))?;
        let mut worker = worker
            .args(worker_args(port, free_port()?, 1))
            .arg("--repo-dir")
            .arg(scratch.join(repo))
            .env("WORKER_SECRET", SECRET)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a worker")?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut done = false;
        while !done && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let text = std::fs::read_to_string(&events_path).unwrap_or_default();
            done = text.contains("\"event\":\"run:complete\"");
        }
        // a moment for anything sent after run:complete to show
        std::thread::sleep(Duration::from_millis(500));
        for child in [&mut worker, &mut mock] {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !done {
            bail!(
                "{side}: no run:complete against the kit's mock (see {})",
                events_path.display()
            );
        }
        let events: Vec<Value> = std::fs::read_to_string(&events_path)?
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] != "run:log")
            .collect();
        runs.push(events);
    }
    Ok(kit_mock_problems(&runs[0], &runs[1]))
}

/// See [`kit_mock_pass`].
fn kit_mock_problems(kit: &[Value], ours: &[Value]) -> Vec<String> {
    let refused =
        |e: &Value| e["event"] == "step:complete" && e["payload"].get("output_dataclip").is_none();
    let mut problems = Vec::new();
    for (i, e) in ours.iter().enumerate() {
        if refused(e) {
            continue;
        }
        if ours[i + 1..].iter().any(|later| later == e) {
            problems.push(format!(
                "ours sent {} again after the kit mock answered it ok: {}",
                e["event"], e["payload"]
            ));
        }
    }
    let names = |events: &[Value], collapse: bool| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if collapse && i > 0 && refused(e) && events[i - 1] == *e {
                continue;
            }
            out.push(e["event"].as_str().unwrap_or("?").to_owned());
        }
        out
    };
    let (k, o) = (names(kit, false), names(ours, true));
    if k != o {
        problems.push(format!(
            "event order against the kit's mock: kit {k:?}, ours {o:?}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_retries_pass_and_a_second_step_start_does_not() {
        let start = json!({"event": "step:start", "payload": {"job_id": "a"}});
        let refused = json!({"event": "step:complete", "payload": {"job_id": "a"}});
        let kit = vec![start.clone(), refused.clone()];
        let retried = vec![start.clone(), refused.clone(), refused.clone()];
        assert!(kit_mock_problems(&kit, &retried).is_empty());
        let restarted = vec![start.clone(), refused.clone(), start, refused];
        assert_eq!(kit_mock_problems(&kit, &restarted).len(), 2);
    }
}
