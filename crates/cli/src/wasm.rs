//! `openfn execute --sandbox wasm` (the `wasm` feature; preview): a single job without adaptors
//! run on the wasm tier (crates/sandbox-wasm) instead of the engine's native child.

use std::path::Path;

use anyhow::{Context, Result, bail};
use openfn_sandbox_wasm::{Limits, WasmSandbox, cache};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::args::ExecuteArgs;
use crate::execute::serialize_output;
use crate::load;
use crate::logger::Logger;

// The tier is a command-line choice, so its type lives with the arguments.
pub use crate::args::Sandbox;

/// Runs `args.path` on the wasm tier; `Ok(false)` when the job failed.
pub fn execute(args: &ExecuteArgs, logger: &Logger) -> Result<bool> {
    if load::is_workflow_path(&args.path) {
        bail!(
            "the wasm sandbox tier runs single jobs for now, not workflows; run without --sandbox wasm"
        );
    }
    if let Some(a) = args.adaptors.first() {
        bail!(
            "adaptors are not supported on the wasm sandbox tier yet (--adaptor {a}); run without --sandbox wasm"
        );
    }
    let source = load::read_text(&args.path)?;
    let code = if args.no_compile {
        source
    } else {
        let name = args
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("src")
            .to_owned();
        let options = openfn_compiler::Options {
            name,
            ..Default::default()
        };
        openfn_compiler::compile(&source, &options)
            .map_err(|e| anyhow::anyhow!("{}", e.for_step("job")))?
            .code
    };
    let state = input_state(args)?;
    let guest = openfn_sandbox_wasm::find_guest()?;
    let sandbox = WasmSandbox::load(&guest, &cache::default_dir())?;
    let limits = Limits {
        memory_bytes: usize::try_from(args.memory_limit_mb.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        ..Limits::default()
    };
    let out = sandbox.run(&code, &state, &limits)?;
    for line in &out.logs {
        logger.line("JOB", &line.level, &line.message, None);
    }
    logger.cli(
        "debug",
        format!(
            "wasm tier: {} fuel, {} KiB peak memory, {:?}",
            out.fuel_used,
            out.memory_peak / 1024,
            out.duration
        ),
    );
    if let Some(e) = &out.error {
        logger.cli("error", format!("{}: {}", e.name, e.message));
        return Ok(false);
    }
    let text = serde_json::to_string(&out.state.unwrap_or(Value::Null))?;
    let raw = RawValue::from_string(text)?;
    write_output(args, &raw, logger)?;
    Ok(true)
}

fn input_state(args: &ExecuteArgs) -> Result<Value> {
    if let Some(text) = &args.state_stdin {
        return serde_json::from_str(text).context("invalid JSON in --state-stdin");
    }
    if let Some(path) = &args.state_path {
        let text = load::read_text(path)?;
        return load::parse_document(path, &text);
    }
    Ok(serde_json::json!({"data": {}, "configuration": {}}))
}

fn write_output(args: &ExecuteArgs, state: &RawValue, logger: &Logger) -> Result<()> {
    let text = serialize_output(Some(state))?;
    if args.output_stdout {
        logger.cli("success", "Result: ");
        logger.cli("always", text);
        return Ok(());
    }
    let base = args.path.parent().unwrap_or(Path::new("."));
    let path = args
        .output_path
        .clone()
        .unwrap_or_else(|| base.join("output.json"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    logger.cli("success", format!("State written to {}", path.display()));
    Ok(())
}
