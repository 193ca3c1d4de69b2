//! `openfn execute`: load the job or workflow, apply the CLI options, run it through the engine
//! (a child process with the same limits as the worker), print its logs and write the output.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use openfn_engine::{
    ChildCommand, CompileSettings, Engine, EngineConfig, EngineEvent, Input, NoResolvers,
    RepoInstaller, RunOptions, deep_json,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::args::ExecuteArgs;
use crate::load::{self, AdaptorArg};
use crate::logger::Logger;
use crate::report;

/// The result of a run, as the CLI reports it.
#[derive(Debug)]
pub struct Outcome {
    /// The final state as JSON text, of any depth (`None` when the workflow produced none).
    pub state: Option<Box<RawValue>>,
    /// The run failed (crash, kill or exception): exit code 1.
    pub failed: bool,
}

/// Everything `execute` needs, from the arguments or from `openfn test`.
pub struct Job {
    pub plan: Value,
    pub input: Option<Value>,
    pub repo_dir: PathBuf,
    pub autoinstall: bool,
    pub compile: CompileSettings,
    pub timeout_ms: u64,
    pub memory_limit_mb: u64,
    pub sanitize: Option<&'static str>,
    /// Where to cache step outputs (`--cache-steps`).
    pub cache_dir: Option<PathBuf>,
}

pub fn default_repo_dir() -> PathBuf {
    openfn_repo::default_cli_repo_dir().unwrap_or_else(|| PathBuf::from("openfn-repo"))
}

/// `openfn execute <path>`.
pub fn execute(args: ExecuteArgs, logger: &Logger) -> Result<bool> {
    #[cfg(feature = "wasm")]
    if args.sandbox == crate::wasm::Sandbox::Wasm {
        return crate::wasm::execute(&args, logger);
    }
    let started = Instant::now();
    let adaptors: Vec<AdaptorArg> = args
        .adaptors
        .iter()
        .map(|a| load::expand_adaptor(a, !args.no_expand_adaptors))
        .collect();
    report::versions(
        logger,
        if load::is_workflow_path(&args.path) {
            &[]
        } else {
            &adaptors
        },
        args.monorepo.is_some(),
    );
    let mut loaded = load::load(&args.path, &adaptors, logger)?;
    if !loaded.is_workflow && adaptors.is_empty() {
        report::no_adaptor_warning(logger);
    }
    if let Some(name) = loaded.plan["workflow"]["name"].as_str() {
        logger.cli("info", format!("Loaded workflow {name}"));
    }
    if let Some(monorepo) = &args.monorepo {
        point_at_monorepo(&mut loaded.plan, monorepo)?;
    }

    if let Some(path) = &args.credentials {
        let text = load::read_text(path)?;
        let creds = load::parse_document(path, &text)?;
        let Value::Object(creds) = creds else {
            bail!(
                "{} must contain an object mapping credential ids to credentials",
                path.display()
            );
        };
        logger.cli("info", "Credential map loaded");
        load::apply_credential_map(&mut loaded.plan, &creds, logger);
    }

    let repo_dir = args.repo_dir.clone().unwrap_or_else(default_repo_dir);
    let autoinstall = !args.no_autoinstall && args.monorepo.is_none();
    if autoinstall {
        report::install(logger, &loaded.plan, &repo_dir)?;
    }
    // --start / --end / --only, matched fuzzily against step ids and names.
    if loaded.is_workflow {
        let (start, end) = match &args.only {
            Some(only) => {
                let step = load::match_step(&loaded.plan, only, "only")?;
                logger.cli("always", format!("Only running workflow step \"{step}\""));
                (Some(step.clone()), Some(step))
            }
            None => {
                // the fuzzy match of `--start`/`--end`, announced at `level`
                let pick = |arg: &Option<String>, which: &str, level: &str, says: &str| {
                    arg.as_deref()
                        .map(|s| {
                            let step = load::match_step(&loaded.plan, s, which)?;
                            logger.cli(level, format!("{says} \"{step}\""));
                            anyhow::Ok(step)
                        })
                        .transpose()
                };
                (
                    pick(&args.start, "start", "info", "Starting workflow from step")?,
                    pick(&args.end, "end", "always", "Ending workflow at step")?,
                )
            }
        };
        let options = loaded.plan["options"]
            .as_object_mut()
            .ok_or_else(|| anyhow!("plan options"))?;
        if let Some(start) = start {
            options.insert("start".into(), Value::String(start));
        }
        if let Some(end) = end {
            options.insert("end".into(), Value::String(end));
        }
    } else if args.start.is_some() || args.end.is_some() || args.only.is_some() {
        bail!("--start, --end and --only need a workflow (.json or .yaml), not a job expression");
    }
    loaded.plan["options"]["timeout"] = Value::from(args.timeout);

    let workflow_name = loaded.plan["workflow"]["name"]
        .as_str()
        .unwrap_or("workflow")
        .to_owned();
    let cache_steps = args.cache_steps.unwrap_or(false);
    let cache_dir = cache_steps.then(|| loaded.base_dir.join(".cli-cache").join(&workflow_name));
    // The input is read before the cache is cleared: `--start x` picks up the cached output of
    // the step upstream of x from the previous run.
    let cache_root = loaded.base_dir.join(".cli-cache").join(&workflow_name);
    let input = input_state(&args, &loaded, &cache_root, logger)?;
    if let Some(dir) = &cache_dir {
        clear_cache(dir)?;
    }

    if args.no_compile {
        logger.cli("info", "Skipping compilation as noCompile is set");
    } else if report::check_compiles(logger, &loaded.plan, loaded.is_workflow) {
        logger.cli("success", "Compiled all expressions in workflow");
    } else {
        return Ok(false);
    }

    let (no_imports, ignore_imports) = parse_ignore_imports(args.ignore_imports.as_deref());
    let job = Job {
        plan: loaded.plan,
        input,
        repo_dir,
        autoinstall,
        compile: CompileSettings {
            skip: args.no_compile,
            no_imports,
            ignore_imports,
            immutable_state: args.immutable,
            // The CLI prints the kit CLI's own compile lines.
            log_steps: false,
        },
        timeout_ms: args.timeout,
        memory_limit_mb: args.memory_limit_mb,
        sanitize: args.sanitize.map(|s| s.as_str()),
        cache_dir,
    };
    let outcome = run(job, logger)?;

    if cache_steps {
        logger.cli(
            "success",
            "Cached output written to ./cli-cache (see info logs for details)",
        );
    }
    if !outcome.failed {
        write_output(&args, &loaded.base_dir, outcome.state.as_deref(), logger)?;
    }
    let took = openfn_lexicon::log::print_duration(started.elapsed());
    if outcome.failed {
        logger.cli("always", format!("Workflow failed in {took}."));
        return Ok(false);
    }
    let errors = outcome.state.as_deref().and_then(errors_reported);
    if let Some(n) = errors {
        logger.cli("warn", format!("Errors reported in {n} jobs"));
        logger.cli("success", format!("Finished in {took}"));
    } else {
        logger.cli("success", format!("Finished in {took} ✨"));
    }
    Ok(true)
}

/// `--ignore-imports` alone (or `true`) disables imports; otherwise a comma list of names.
fn parse_ignore_imports(value: Option<&str>) -> (bool, Vec<String>) {
    match value {
        None => (false, Vec::new()),
        Some("true") => (true, Vec::new()),
        Some("false") => (false, Vec::new()),
        Some(list) => (
            false,
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    }
}

/// The input state: `-S` text, `-s` file, or (with `--start`, as the kit) the cached output of
/// the step upstream of the start; otherwise the runtime's default.
fn input_state(
    args: &ExecuteArgs,
    loaded: &load::Loaded,
    cache_dir: &Path,
    logger: &Logger,
) -> Result<Option<Value>> {
    logger.cli("debug", "Loading state...");
    if let Some(text) = &args.state_stdin {
        let state = serde_json::from_str(text).map_err(|e| {
            anyhow!(
                "invalid JSON in --state-stdin at line {}, column {}: {e}",
                e.line(),
                e.column()
            )
        })?;
        logger.cli("success", "Read state from stdin");
        return Ok(Some(state));
    }
    if let Some(path) = &args.state_path {
        let text = load::read_text(path)?;
        let state = load::parse_document(path, &text)?;
        logger.cli("success", format!("Loaded state from {}", path.display()));
        return Ok(Some(state));
    }
    if let Some(start) = loaded.plan["options"]["start"].as_str() {
        // as the kit: a start step without state looks for the cached output upstream
        logger.cli(
            "info",
            "No state provided to CLI. Will attempt to load state from cache instead",
        );
        logger.cli(
            "always",
            format!("Attempting to load cached input state for starting step \"{start}\""),
        );
        let steps = loaded.plan["workflow"]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let upstream = steps.iter().find(|s| {
            let next = &s["next"];
            next.as_str() == Some(start) || next.get(start).is_some()
        });
        match upstream.and_then(|s| s["id"].as_str()) {
            Some(id) => {
                let file = cache_dir.join(format!("{id}.json"));
                let cached = std::fs::read_to_string(&file)
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok());
                if let Some(state) = cached {
                    logger.cli(
                        "success",
                        format!(
                            "Loaded cached state for step \"{start}\" from {}",
                            file.display()
                        ),
                    );
                    logger.cli(
                        "info",
                        "  To force disable the cache, run again with --no-cache",
                    );
                    return Ok(Some(state));
                }
                logger.cli(
                    "warn",
                    format!("No cached state found for step \"{start}\""),
                );
                logger.cli(
                    "warn",
                    "Re-run this workflow with --cache to save the output of each step",
                );
                logger.blank();
            }
            None => logger.cli(
                "warn",
                format!("Could not find an input step for step \"{start}\""),
            ),
        }
    }
    logger.cli(
        "info",
        "No state provided - using default state { data: {}, configuration: {} }",
    );
    Ok(None)
}

fn clear_cache(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(root) = dir.parent() {
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "*")
                .with_context(|| format!("writing {}", ignore.display()))?;
        }
    }
    Ok(())
}

/// `-m <monorepo>`: every `@openfn/language-x` adaptor loads from `<monorepo>/packages/x`.
fn point_at_monorepo(plan: &mut Value, monorepo: &Path) -> Result<()> {
    let steps = plan["workflow"]["steps"]
        .as_array_mut()
        .ok_or_else(|| anyhow!("no steps"))?;
    for step in steps {
        let adaptors: Vec<String> = step["adaptors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        for spec in adaptors {
            let name = load::expand_adaptor(&spec, false).name;
            let Some(short) = name.strip_prefix("@openfn/language-") else {
                continue;
            };
            let dir = monorepo.join("packages").join(short);
            if !step["linker"].is_object() {
                step["linker"] = Value::Object(Map::new());
            }
            step["linker"][&name] =
                serde_json::json!({ "path": dir.to_string_lossy(), "version": "local" });
        }
    }
    Ok(())
}

/// Runs a job through a one-child engine and prints its events. Returns the final state.
pub fn run(job: Job, logger: &Logger) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(job, logger))
}

async fn run_async(job: Job, logger: &Logger) -> Result<Outcome> {
    let installer = if job.autoinstall {
        let repo = openfn_repo::Repo::open(&job.repo_dir, openfn_repo::RegistryConfig::from_env())
            .map_err(|e| {
                anyhow!(
                    "cannot open the adaptor repo at {}: {e}",
                    job.repo_dir.display()
                )
            })?;
        Some(RepoInstaller::from_repo(Arc::new(repo)) as Arc<dyn openfn_engine::AdaptorInstaller>)
    } else {
        None
    };
    let config = EngineConfig {
        capacity: 1,
        repo_dir: job.repo_dir.clone(),
        memory_limit_mb: job.memory_limit_mb,
        run_timeout_ms: job.timeout_ms,
        state_props_to_remove: vec!["configuration".into()],
        max_runs_per_child: 1,
        child_command: Some(ChildCommand::current_exe().context("locating the openfn binary")?),
        installer,
        compile: job.compile,
        console_text: !logger.is_json(),
        // One run per process: a template would cost a second process and never be reused.
        templates: openfn_engine::TemplateConfig {
            mode: openfn_engine::TemplateMode::Off,
            ..openfn_engine::TemplateConfig::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::new(config).map_err(|e| anyhow!("cannot start the engine: {e}"))?;
    let plan = openfn_engine::ExecutionPlan::from_value(job.plan)
        .map_err(|e| anyhow!("invalid workflow: {e}"))?;
    let input = match job.input {
        Some(state) => {
            let raw =
                serde_json::value::to_raw_value(&state).context("encoding the input state")?;
            Input::Value(raw)
        }
        None => Input::Empty,
    };
    let options = RunOptions {
        sanitize: job
            .sanitize
            .and_then(|s| serde_json::from_value(Value::String(s.to_owned())).ok()),
        ..RunOptions::default()
    };
    let mut handle = engine.execute(plan, input, options, Arc::new(NoResolvers));
    let mut breaks = report::Breaks::default();
    let mut outcome = Outcome {
        state: None,
        failed: true,
    };
    while let Some(event) = handle.next().await {
        match event {
            // the CLI reported the install itself (`Installation complete`); the kit CLI
            // prints nothing more here
            EngineEvent::AutoinstallComplete { .. } => {}
            EngineEvent::AutoinstallError {
                module,
                version,
                message,
                ..
            } => {
                let specifier = if version.is_empty() {
                    module
                } else {
                    format!("{module}@{version}")
                };
                logger.cli("error", format!("Failed to install {specifier}: {message}"));
            }
            EngineEvent::WorkflowLog { log: line, .. } => {
                let parts: Vec<Value> = serde_json::from_str(line.message.get())
                    .unwrap_or_else(|_| vec![Value::String(line.message.get().to_owned())]);
                // the engine's own notes (limits, compile time) are not kit lines: debug only
                let level = if line.name == "RTE"
                    || (line.name == "R/T"
                        && parts
                            .first()
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.starts_with("Workflow compilation complete in")))
                {
                    "debug"
                } else {
                    line.level.as_str()
                };
                logger.line(&line.name, level, &parts, Some(&line.time));
                if breaks.after(&line.name, &line.level, &parts) {
                    logger.blank();
                }
            }
            EngineEvent::JobComplete { job_id, state, .. }
            | EngineEvent::JobError { job_id, state, .. } => {
                if let Some(dir) = &job.cache_dir {
                    let file = dir.join(format!("{job_id}.json"));
                    let pretty = deep_json::pretty(state.get())
                        .with_context(|| format!("formatting the output of {job_id}"))?;
                    std::fs::write(&file, pretty)
                        .with_context(|| format!("writing {}", file.display()))?;
                    logger.cli(
                        "info",
                        format!("Writing {job_id} output to {}", file.display()),
                    );
                }
            }
            EngineEvent::WorkflowComplete { state, .. } => {
                // The state stays text: it may nest deeper than a `Value` can be parsed.
                outcome = Outcome {
                    state: (state.get().trim() != "null").then_some(state),
                    failed: false,
                };
            }
            EngineEvent::WorkflowError { error, .. } => {
                outcome.failed = true;
                if breaks.crash_reported() {
                    // the runtime's report (`CRITICAL ERROR! …`) is all the kit prints
                    continue;
                }
                if error.error_type == "TimeoutError" {
                    // the kit's runtime enforces the timeout and says so itself
                    let text = format!("Error: Timeout expired ({}ms)", job.timeout_ms);
                    logger.line("R/T", "error", &[Value::String(text)], None);
                    continue;
                }
                // crash messages already lead with their type (`ReferenceError: x is not
                // defined`): say it once
                let kind = error.reported_type();
                let text = if error.message.starts_with(&format!("{kind}: ")) {
                    error.message.clone()
                } else {
                    format!("{kind}: {}", error.message)
                };
                logger.cli("error", text);
                outcome.failed = true;
            }
            _ => {}
        }
    }
    engine.destroy(false);
    Ok(outcome)
}

/// Writes the output: stdout with `-O`, else `-o` or `output.json` beside the input. Objects
/// with `data` or `configuration` lose `configuration`; no state writes an empty file.
fn write_output(
    args: &ExecuteArgs,
    base_dir: &Path,
    state: Option<&RawValue>,
    logger: &Logger,
) -> Result<()> {
    let text = serialize_output(state).context("formatting the final state")?;
    if args.output_stdout {
        logger.cli("success", "Result: ");
        logger.cli("always", text);
        return Ok(());
    }
    let path = args
        .output_path
        .clone()
        .unwrap_or_else(|| base_dir.join("output.json"));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let shown = path.strip_prefix(".").unwrap_or(&path);
    logger.cli("debug", format!("Writing output to {}", shown.display()));
    std::fs::write(&path, text)
        .with_context(|| format!("writing the output to {}", path.display()))?;
    logger.cli("success", format!("State written to {}", shown.display()));
    Ok(())
}

/// The kit's output rule, as text: `JSON.stringify(state, null, 2)`, without `configuration`
/// when the state is an object with `data` or `configuration`. Works on the text, so a state
/// of any depth is written whole.
///
/// # Errors
/// The state is not valid JSON (the engine only sends valid JSON).
pub fn serialize_output(state: Option<&RawValue>) -> Result<String, serde_json::Error> {
    let Some(raw) = state else {
        return Ok(String::new());
    };
    let text = match deep_json::object_entries(raw.get())? {
        Some(entries)
            if entries
                .iter()
                .any(|(k, _)| k == "data" || k == "configuration") =>
        {
            let kept = entries
                .iter()
                .filter(|(k, _)| k != "configuration")
                .map(|(k, v)| (k.as_str(), v.get()));
            deep_json::object_text(kept)
        }
        _ => raw.get().to_owned(),
    };
    deep_json::pretty(&text)
}

/// How many jobs `state.errors` reports, when the state is an object with an `errors` object.
fn errors_reported(state: &RawValue) -> Option<usize> {
    let entries = deep_json::object_entries(state.get()).ok()??;
    let (_, errors) = entries.iter().rev().find(|(k, _)| k == "errors")?;
    deep_json::object_entries(errors.get())
        .ok()?
        .map(|e| e.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_drops_configuration() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let state = raw(r#"{"data":{"a":1},"configuration":{"pw":"x"},"references":[]}"#);
        let text = serialize_output(Some(&state)).unwrap();
        assert_eq!(
            text,
            "{\n  \"data\": {\n    \"a\": 1\n  },\n  \"references\": []\n}"
        );
        assert_eq!(serialize_output(None).unwrap(), "");
        assert_eq!(serialize_output(Some(&raw("42"))).unwrap(), "42");
        let plain = raw(r#"{"configuration":1,"x":2}"#);
        assert!(
            !serialize_output(Some(&plain))
                .unwrap()
                .contains("configuration")
        );
        let other = raw(r#"{"x":{"configuration":1}}"#);
        assert!(
            serialize_output(Some(&other))
                .unwrap()
                .contains("configuration")
        );
        assert_eq!(
            errors_reported(&raw(r#"{"errors":{"a":{},"b":{}}}"#)),
            Some(2)
        );
        assert_eq!(errors_reported(&raw(r#"{"errors":[]}"#)), None);
    }

    #[test]
    fn ignore_imports_forms() {
        assert_eq!(parse_ignore_imports(None), (false, vec![]));
        assert_eq!(parse_ignore_imports(Some("true")), (true, vec![]));
        assert_eq!(
            parse_ignore_imports(Some("a, b")),
            (false, vec!["a".into(), "b".into()])
        );
    }
}
