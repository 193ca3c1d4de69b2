//! `openfn execute --sandbox wasm` (the `wasm` feature; preview): the loaded, installed job or
//! workflow runs on the wasm tier (crates/sandbox-wasm) instead of the engine's native child.
//! The plan is compiled here as the engine's child compiles it, then run by the same
//! `openfn-runtime` inside the guest; adaptors load read-only from the repo.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use openfn_sandbox_wasm::{Limits, PlanOptions, WasmSandbox, cache};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::job::{Job, Outcome};
use crate::logger::Logger;

// The tier is a command-line choice, so its type lives with the arguments.
pub use crate::args::Sandbox;

/// Runs `job` (its adaptors already installed in the repo) on the wasm tier.
pub fn run(job: Job, logger: &Logger) -> Result<Outcome> {
    let mut plan = openfn_engine::ExecutionPlan::from_value(job.plan.clone())
        .map_err(|e| anyhow!("invalid workflow: {e}"))?;
    if let Err(e) = openfn_engine::child::compile_plan(&mut plan, &job.repo_dir, &job.compile) {
        let name = e.name.as_deref().unwrap_or("CompileError");
        logger.cli("error", format!("{name}: {}", e.message));
        return Ok(Outcome {
            state: None,
            failed: true,
        });
    }
    let plan = serde_json::to_value(&plan)?;
    let linked = openfn_engine::plan::linked_dirs(&job.plan)
        .into_iter()
        .map(|(name, dir)| (name, PathBuf::from(dir)))
        .collect();
    let options = PlanOptions {
        repo: Some(job.repo_dir.clone()),
        linked,
        allowed_hosts: vec!["*".to_owned()],
        log_level: "debug".to_owned(),
        run_timeout_ms: (job.timeout_ms > 0).then_some(job.timeout_ms),
        state_props_to_remove: Some(vec!["configuration".to_owned()]),
        ..PlanOptions::default()
    };
    let limits = Limits {
        memory_bytes: usize::try_from(job.memory_limit_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        ..Limits::default()
    };
    let input: Option<Value> = job
        .input
        .as_deref()
        .map(|raw| serde_json::from_str(raw.get()))
        .transpose()?;
    let guest = openfn_sandbox_wasm::find_guest()?;
    let sandbox = WasmSandbox::load(&guest, &cache::default_dir())?;
    let out = sandbox.run_plan(&plan, input.as_ref(), &options, &limits)?;
    let mut breaks = crate::report::Breaks::default();
    for line in &out.lines {
        let parts: Vec<Value> = line["message"].as_array().cloned().unwrap_or_default();
        let (name, level) = (
            line["name"].as_str().unwrap_or("R/T"),
            line["level"].as_str().unwrap_or("info"),
        );
        logger.line(name, level, &parts, line["time"].as_str());
        if breaks.after(name, level, &parts) {
            logger.blank();
        }
    }
    let steps: Vec<String> = out
        .events
        .iter()
        .filter(|e| e.name == "job-complete" || e.name == "job-error")
        .map(|e| {
            format!(
                "{} at {} fuel",
                e.payload["jobId"].as_str().unwrap_or("?"),
                e.fuel
            )
        })
        .collect();
    logger.cli(
        "debug",
        format!(
            "wasm tier: {} fuel ({}), {:?}",
            out.fuel_used,
            steps.join(", "),
            out.duration
        ),
    );
    if let Some(e) = &out.error {
        if !breaks.crash_reported() {
            // a kill from the host (fuel, memory, output): the runtime could not say it
            let name = e["type"].as_str().or(e["name"].as_str()).unwrap_or("Error");
            let message = e["message"].as_str().unwrap_or_default();
            logger.failure(&format!("{name}: {message}"));
        }
        return Ok(Outcome {
            state: None,
            failed: true,
        });
    }
    let text = serde_json::to_string(&out.state.unwrap_or(Value::Null))?;
    Ok(Outcome {
        state: Some(RawValue::from_string(text)?),
        failed: false,
    })
}
