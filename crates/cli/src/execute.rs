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

pub use crate::job::{Job, Outcome};

pub fn default_repo_dir() -> PathBuf {
    openfn_repo::default_cli_repo_dir().unwrap_or_else(|| PathBuf::from("openfn-repo"))
}

/// `openfn execute <path>`.
pub fn execute(args: ExecuteArgs, logger: &Logger) -> Result<bool> {
    let started = Instant::now();
    if args.output_stdout {
        // `-O`: the result alone on stdout (`openfn … -O | jq`), the logs on stderr
        crate::out::result_owns_stdout();
    }
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
    refuse_steps_on_a_job(&args, &loaded)?;
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
        apply_credentials(path, &mut loaded, logger)?;
    }

    let repo_dir = args.repo_dir.clone().unwrap_or_else(default_repo_dir);
    let autoinstall = !args.no_autoinstall && args.monorepo.is_none();
    if autoinstall {
        report::install(logger, &loaded.plan, &repo_dir)?;
    }
    select_steps(&args, &mut loaded, logger)?;
    loaded.plan["options"]["timeout"] = Value::from(args.timeout);

    let workflow_name = loaded.plan["workflow"]["name"]
        .as_str()
        .unwrap_or("workflow")
        .to_owned();
    let cache_steps = args.cache_steps.unwrap_or(false);
    let cache_root = loaded.base_dir.join(".cli-cache").join(&workflow_name);
    let cache_dir = cache_steps.then(|| cache_root.clone());
    // `--start x` picks up the cached output of the step upstream of x from a previous run.
    let input = input_state(&args, &loaded, &cache_root, logger)?;
    if let Some(dir) = &cache_dir {
        prepare_cache(dir)?;
    }

    if args.no_compile {
        logger.cli("info", "Skipping compilation as noCompile is set");
    } else if report::check_compiles(logger, &loaded.plan, loaded.is_workflow, &loaded.sources) {
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
        cache_dir: cache_dir.clone(),
        #[cfg(feature = "wasm")]
        sandbox: args.sandbox.into(),
        #[cfg(not(feature = "wasm"))]
        sandbox: openfn_engine::Sandbox::Native,
    };
    let job_cache_dir = cache_dir;
    let outcome = run(job, logger)?;

    if let Some(dir) = &job_cache_dir {
        // the kit names the absolute path (node's `path.resolve`)
        let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        logger.cli(
            "success",
            format!(
                "Cached output written to {} (see info logs for details)",
                shown.display()
            ),
        );
    }
    if !outcome.failed {
        write_output(&args, &loaded.base_dir, outcome.state.as_deref(), logger)?;
    }
    Ok(finish(&outcome, started, logger))
}

/// `--start`, `--end` and `--only` on a job expression: a usage error, before any install.
fn refuse_steps_on_a_job(args: &ExecuteArgs, loaded: &load::Loaded) -> Result<()> {
    if !loaded.is_workflow && (args.start.is_some() || args.end.is_some() || args.only.is_some()) {
        return Err(crate::usage::error(
            "--start, --end and --only need a workflow (.json or .yaml), not a job expression",
        ));
    }
    Ok(())
}

/// `--credentials <map>`: string `configuration`s become the credentials they name.
fn apply_credentials(path: &Path, loaded: &mut load::Loaded, logger: &Logger) -> Result<()> {
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
    Ok(())
}

/// `--start`, `--end` and `--only`, matched fuzzily against step ids and names, into the
/// plan's options (a job expression was refused them at load).
fn select_steps(args: &ExecuteArgs, loaded: &mut load::Loaded, logger: &Logger) -> Result<()> {
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
    }
    Ok(())
}

/// The closing lines: `Workflow failed in …`, or `Finished in …` (after `Errors reported in
/// <n> jobs` when `state.errors` says so). Returns whether the run succeeded.
fn finish(outcome: &Outcome, started: Instant, logger: &Logger) -> bool {
    let took = openfn_lexicon::log::print_duration(started.elapsed());
    if outcome.failed {
        logger.cli("always", format!("Workflow failed in {took}."));
        return false;
    }
    let errors = outcome.state.as_deref().and_then(errors_reported);
    if let Some(n) = errors {
        logger.cli("warn", format!("Errors reported in {n} jobs"));
        logger.cli("success", format!("Finished in {took}"));
    } else {
        logger.cli("success", format!("Finished in {took} ✨"));
    }
    true
}

/// `--ignore-imports` alone (or `true`) disables imports; otherwise a comma list of names.
pub fn parse_ignore_imports(value: Option<&str>) -> (bool, Vec<String>) {
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
) -> Result<Option<Box<RawValue>>> {
    logger.cli("debug", "Loading state...");
    if let Some(text) = &args.state_stdin {
        let state = serde_json::from_str::<Box<RawValue>>(text).map_err(|e| {
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
        let state = load::parse_state(path, text)?;
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
                    .and_then(|text| serde_json::from_str::<Box<RawValue>>(&text).ok());
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
                if args.only.is_some() && !crate::out::kit_layout() {
                    // one step on empty state fails inside the job: say what is missing
                    bail!(
                        "no cached input for step \"{start}\": {} does not exist (hint: run the workflow once with --cache-steps to cache each step's output, or give the input with -s <state.json>)",
                        file.display()
                    );
                }
                logger.cli(
                    "warn",
                    format!("No cached state found for step \"{start}\""),
                );
                let flag = if crate::out::kit_layout() {
                    "--cache"
                } else {
                    "--cache-steps"
                };
                logger.cli(
                    "warn",
                    format!("Re-run this workflow with {flag} to save the output of each step"),
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

/// Makes the cache folder (and a `.gitignore` beside it). Earlier outputs stay: a run from
/// `--start`/`--only` overwrites only the steps it runs, so the cached inputs of the steps it
/// skipped are still there for the next run.
fn prepare_cache(dir: &Path) -> Result<()> {
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

/// The CLI's payload limit: none in effect (the IPC frame limit, 1 GiB, comes first).
const CLI_PAYLOAD_LIMIT_MB: f64 = 1024.0 * 1024.0;

/// The engine of one CLI run: one child, no templates, installing into the job's repo.
fn one_child_engine(job: &Job, logger: &Logger) -> Result<Engine> {
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
        // The kit CLI has no payload limit: states and log lines of any size are written whole
        // (the worker's 10 MB default would turn a big state into `"[REDACTED]"`).
        payload_limit_mb: CLI_PAYLOAD_LIMIT_MB,
        max_runs_per_child: 1,
        child_command: Some(ChildCommand::current_exe().context("locating the openfn binary")?),
        installer,
        compile: job.compile.clone(),
        console_text: !logger.is_json(),
        sandbox: job.sandbox,
        // One run per process: a template would cost a second process and never be reused.
        templates: openfn_engine::TemplateConfig {
            mode: openfn_engine::TemplateMode::Off,
            ..openfn_engine::TemplateConfig::default()
        },
        ..EngineConfig::default()
    };
    Engine::new(config).map_err(|e| anyhow!("cannot start the engine: {e}"))
}

async fn run_async(job: Job, logger: &Logger) -> Result<Outcome> {
    let engine = one_child_engine(&job, logger)?;
    let plan = openfn_engine::ExecutionPlan::from_value(job.plan)
        .map_err(|e| anyhow!("invalid workflow: {e}"))?;
    let input = match job.input {
        Some(raw) => Input::Value(raw),
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
            // the `workflow-error` that follows says it once
            EngineEvent::AutoinstallError { .. } => {}
            EngineEvent::WorkflowLog { log: line, .. } => {
                let parts: Vec<Value> = serde_json::from_str(line.message.get())
                    .unwrap_or_else(|_| vec![Value::String(line.message.get().to_owned())]);
                // the engine's own notes (its limits, the plan's compile time) are not printed:
                // the kit CLI runs the runtime without an engine and has no such lines
                let engine_note = line.name == "RTE"
                    || (line.name == "R/T"
                        && parts
                            .first()
                            .and_then(Value::as_str)
                            .is_some_and(|t| t.starts_with("Workflow compilation complete in")));
                if !engine_note {
                    logger.line(&line.name, line.level.as_str(), &parts, Some(&line.time));
                    if breaks.after(&line.name, &line.level, &parts) {
                        logger.blank();
                    }
                }
            }
            EngineEvent::JobComplete { job_id, state, .. }
            | EngineEvent::JobError { job_id, state, .. } => {
                if let Some(dir) = &job.cache_dir {
                    let file = dir.join(format!("{job_id}.json"));
                    // as the kit: `JSON.stringify(state)`, the text as the step left it
                    std::fs::write(&file, state.get())
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
                // The last event of a run: the CLI does not wait for the child to tear its
                // QuickJS runtime down (its channel closes when this process exits).
                break;
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
                logger.failure(&text);
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
        if !crate::out::stdout_is_result() {
            // the kit layout: the result among the logs
            logger.cli("success", "Result: ");
            logger.cli("always", text);
        } else if logger.json() {
            // one JSON object per line, the result too
            crate::out::line(crate::out::Stream::Stdout, &compact(&text)?);
        } else {
            crate::out::line(crate::out::Stream::Stdout, &text);
        }
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
/// when the state is an object whose `configuration` or `data` is truthy. Works on the text (a
/// state of any depth is written whole) in two passes: the top-level members, then the layout.
///
/// # Errors
/// None today (the state is a `RawValue`, valid JSON); kept for the callers' sake.
pub fn serialize_output(state: Option<&RawValue>) -> Result<String, serde_json::Error> {
    let Some(raw) = state else {
        return Ok(String::new());
    };
    if let Some(members) = deep_json::raw_members(raw) {
        let truthy = |name: &str| {
            members
                .iter()
                .rev()
                .find(|(k, _)| deep_json::key_is(k, name))
                .is_some_and(|(_, v)| deep_json::is_truthy(v))
        };
        let drop = |(k, _): &&(&str, &str)| deep_json::key_is(k, "configuration");
        if (truthy("configuration") || truthy("data")) && members.iter().any(|m| drop(&m)) {
            let mut kept = String::with_capacity(raw.get().len());
            kept.push('{');
            for (i, (k, v)) in members.iter().filter(|m| !drop(m)).enumerate() {
                if i > 0 {
                    kept.push(',');
                }
                kept.push_str(k);
                kept.push(':');
                kept.push_str(v);
            }
            kept.push('}');
            return deep_json::pretty(&kept);
        }
    }
    Ok(deep_json::pretty_raw(raw))
}

/// The result on one line (`--log-json -O`); no state prints `null`.
fn compact(pretty: &str) -> Result<String> {
    if pretty.is_empty() {
        return Ok("null".to_owned());
    }
    let value = deep_json::parse(pretty).context("reading the final state")?;
    let line = openfn_lexicon::deep_json::to_string(&value);
    deep_json::drop_value(value);
    Ok(line)
}

/// How many jobs `state.errors` reports, when the state is an object with an `errors` object.
fn errors_reported(state: &RawValue) -> Option<usize> {
    let members = deep_json::raw_members(state)?;
    let (_, errors) = members
        .iter()
        .rev()
        .find(|(k, _)| deep_json::key_is(k, "errors"))?;
    deep_json::object_entries(errors).ok()?.map(|e| e.len())
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

    /// As the kit: `if (output.configuration || output.data)`, on JavaScript truthiness.
    #[test]
    fn configuration_goes_when_it_or_data_is_truthy() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let out = |s: &str| serialize_output(Some(&raw(s))).unwrap();
        assert_eq!(
            out(r#"{"configuration":null,"data":0}"#),
            "{\n  \"configuration\": null,\n  \"data\": 0\n}"
        );
        assert_eq!(
            out(r#"{"data":{},"configuration":null}"#),
            "{\n  \"data\": {}\n}"
        );
        assert_eq!(
            out(r#"{"data":"", "configuration":0.0}"#),
            "{\n  \"data\": \"\",\n  \"configuration\": 0.0\n}"
        );
        assert_eq!(
            out(r#"{ "configur\u0061tion" : [0] , "a" : "}" }"#),
            "{\n  \"a\": \"}\"\n}"
        );
        assert_eq!(
            out(r#"{"data":-1e-3,"configuration":{}}"#),
            "{\n  \"data\": -1e-3\n}"
        );
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
