//! `cargo xtask demo [--release]`: starts `lightning-mock` and a `ws-worker` as processes on
//! free loopback ports, runs the examples through them as Lightning runs (`examples/hello.js`
//! with `examples/state.json` as its input dataclip, and `examples/workflow.json` with its four
//! steps and edges), prints each run's outcome and where the dashboard is, then waits for Ctrl-C
//! and stops both processes.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::chaos::devapi::DevApi;
use crate::chaos::harness::{self, Proc};
use crate::e2e::plans;

/// The CLI examples' `adaptor: "common"`, as the full specifier Lightning sends.
fn adaptor(short: Option<&str>) -> String {
    match short {
        Some(_) => plans::common(),
        None => String::new(),
    }
}

/// `examples/workflow.json` (the CLI's workflow format) as a Lightning plan: steps become jobs
/// with their expression files as bodies, `next` becomes edges.
fn workflow_plan(examples: &Path) -> Result<Value> {
    let path = examples.join("workflow.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let wf: Value = serde_json::from_str(&text).context("parsing examples/workflow.json")?;
    let steps = wf["steps"]
        .as_array()
        .context("examples/workflow.json has no steps")?;
    let mut jobs = Vec::new();
    let mut edges = Vec::new();
    for step in steps {
        let id = step["id"].as_str().context("a step without an id")?;
        let file = step["expression"]
            .as_str()
            .context("a step without an expression")?;
        let body = std::fs::read_to_string(examples.join(file))
            .with_context(|| format!("reading examples/{file}"))?;
        jobs.push(plans::job(id, &adaptor(step["adaptor"].as_str()), &body));
        if let Some(next) = step["next"].as_object() {
            for (target, rule) in next {
                let condition = match rule {
                    Value::Bool(true) => "always".to_owned(),
                    Value::Object(o) => o
                        .get("condition")
                        .and_then(Value::as_str)
                        .unwrap_or("always")
                        .to_owned(),
                    _ => continue,
                };
                edges.push(plans::edge(id, target, &condition));
            }
        }
    }
    let first = steps[0]["id"].as_str().unwrap_or_default();
    Ok(plans::workflow(first, jobs, edges))
}

/// Waits until run `id` is complete in the mock (or `within` passed); returns its view.
async fn wait_complete(api: &DevApi, id: &str, within: Duration) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let view = api.view(id).await?;
        if view["status"] == "complete" || view["status"] == "lost" {
            return Ok(view);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("run {id} did not complete within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn demo(root: &Path, mock: &mut Proc, worker: &mut Proc) -> Result<()> {
    harness::wait_http(worker, "/readyz", Duration::from_secs(60)).await?;
    let api = DevApi::new(mock.port)?;
    let examples = root.join("examples");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(examples.join("state.json"))
            .context("reading examples/state.json")?,
    )
    .context("parsing examples/state.json")?;
    api.add_dataclip("demo-input", &state).await?;
    let hello =
        std::fs::read_to_string(examples.join("hello.js")).context("reading examples/hello.js")?;
    let mut hello_plan = plans::workflow(
        "hello",
        vec![plans::job("hello", &plans::common(), &hello)],
        vec![],
    );
    hello_plan["dataclip_id"] = json!("demo-input");
    let runs = [
        ("hello.js", hello_plan),
        ("workflow.json", workflow_plan(&examples)?),
    ];
    for (what, plan) in runs {
        let id = api.enqueue(&plan).await?;
        println!("-- {what}: run {id} enqueued");
        let view = wait_complete(&api, &id, Duration::from_secs(180)).await?;
        let data = view["final_state"]
            .get("data")
            .cloned()
            .unwrap_or(Value::Null);
        println!(
            "   {} ({} steps): data {}",
            view["reason"].as_str().unwrap_or("?"),
            view["steps"].as_array().map_or(0, Vec::len),
            data
        );
    }
    println!(
        "\nDashboard: http://127.0.0.1:{}/  ·  worker: http://127.0.0.1:{}/metrics\n\
         Enqueue more with `curl -X POST http://127.0.0.1:{}/run -d @plan.json`. Ctrl-C stops both.",
        mock.port, worker.port, mock.port
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

/// Runs the demo with the command-line `args` (after `demo`).
pub fn run(args: &[String]) -> Result<()> {
    let release = match args {
        [] => false,
        [flag] if flag == "--release" => true,
        _ => bail!("usage: cargo xtask demo [--release]"),
    };
    let root = crate::tidy::workspace_root();
    let bins = harness::build(&root, !release)?;
    let logs = root.join("target/demo");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async {
        let mut mock = harness::start_mock(&bins, &logs, &[]).await?;
        let mut worker = harness::start_worker(&bins, &logs, "worker", mock.port, &[]).await?;
        println!("mock and worker started; logs in {}", logs.display());
        let result = demo(&root, &mut mock, &mut worker).await;
        worker.signal("TERM")?;
        worker.wait_exit(Duration::from_secs(30)).await;
        mock.signal("TERM")?;
        mock.wait_exit(Duration::from_secs(5)).await;
        println!("stopped");
        result
    })
}
