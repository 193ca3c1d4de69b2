//! The `openfn` CLI on the jobs the worker scenarios run: the same job on the real
//! language-common and the edges workflow (in the CLI's workflow format) must leave the same
//! final `data` as through the worker.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::plans;
use crate::chaos::report::Row;
use crate::chaos::{Env, Scenario};

pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario::new("cli-same-jobs", true, |env| {
        Box::pin(cli(env))
    })]
}

/// The edges workflow of `plans::edges_workflow` as the CLI reads it (`next` conditions).
fn cli_workflow() -> Value {
    let step = |name: &str| {
        format!(
            "fn(state => ({{ data: {{ ...state.data, path: [...(state.data.path || []), '{name}'] }} }}));"
        )
    };
    let adaptor = plans::common();
    json!({"workflow": {"steps": [
        {"id": "a", "adaptor": adaptor,
         "expression": "fn(state => ({ data: { go: true, path: ['a'] } }));",
         "next": {"b": {"condition": "!state.errors"}, "c": {"condition": "!!state.errors"}}},
        {"id": "b", "adaptor": adaptor, "expression": step("b"),
         "next": {"d": {"condition": "state.data.go === true"}, "e": {"condition": "state.data.go === false"}}},
        {"id": "c", "adaptor": adaptor, "expression": step("c")},
        {"id": "d", "adaptor": adaptor, "expression": step("d")},
        {"id": "e", "adaptor": adaptor, "expression": step("e")}
    ]}})
}

/// Runs `openfn <args…> -o <out>` in `dir`; returns the output file's `data`.
fn openfn(env: &Env, dir: &Path, args: &[&str], out: &str) -> Result<Value> {
    let output = Command::new(&env.bins.openfn)
        .current_dir(dir)
        .args(args)
        .args(["-o", out])
        .env("OPENFN_REPO_DIR", dir.join("repo"))
        .env("NO_COLOR", "1")
        .output()
        .context("starting openfn")?;
    std::fs::write(dir.join(format!("{out}.log")), &output.stdout).context("writing the log")?;
    if !output.status.success() {
        anyhow::bail!(
            "openfn {} exited {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = std::fs::read_to_string(dir.join(out)).context("reading the output")?;
    let state: Value = serde_json::from_str(&text).context("parsing the output")?;
    Ok(state["data"].clone())
}

async fn cli(env: &Env) -> Result<Row> {
    let name = "cli-same-jobs";
    let mut row = Row::new(name);
    let started = std::time::Instant::now();
    let dir = env.logs.join(name);
    std::fs::create_dir_all(&dir).context("creating the scenario dir")?;
    std::fs::write(dir.join("job.js"), plans::HAPPY_JOB).context("writing job.js")?;
    std::fs::write(dir.join("workflow.json"), cli_workflow().to_string())
        .context("writing workflow.json")?;
    let common = plans::common();
    let cases: [(&[&str], &str, Value); 2] = [
        (
            &["job.js", "-a", &common],
            "job.out.json",
            plans::happy_data(),
        ),
        (&["workflow.json"], "workflow.out.json", plans::edges_data()),
    ];
    for (args, out, want) in cases {
        row.enqueued += 1;
        match openfn(env, &dir, args, out) {
            Ok(data) if data == want => row.ok += 1,
            Ok(data) => {
                row.wrong += 1;
                row.problem(format!("openfn {}: data {data}, expected {want}", args[0]));
            }
            Err(e) => {
                row.wrong += 1;
                row.problem(format!("{e:#}"));
            }
        }
    }
    row.secs = started.elapsed().as_secs_f64();
    row.logs = Some(dir);
    Ok(row)
}
