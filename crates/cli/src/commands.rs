//! The small commands: `compile` (in-process: compiling is what the user asked for), `test`
//! (the kit's built-in three-step check), `repo install|list|clean` and `version`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use openfn_compiler::{AdaptorImports, AddImports, Options as CompileOptions};
use openfn_engine::CompileSettings;
use serde_json::Value;

use crate::args::{CleanArgs, CompileArgs, InstallArgs, RepoDirArgs, TestArgs};
use crate::execute::{self, Job, default_repo_dir};
use crate::load;
use crate::logger::Logger;

/// `openfn compile <path>`: a job prints compiled JS; a workflow prints the compiled plan JSON.
pub fn compile(args: CompileArgs, logger: &Logger) -> Result<bool> {
    if args.output_path.is_none() {
        // the compiled code is the result: stdout carries it alone, logs go to stderr
        crate::out::result_owns_stdout();
    }
    let adaptors: Vec<load::AdaptorArg> = args
        .adaptors
        .iter()
        .map(|a| load::expand_adaptor(a, !args.no_expand_adaptors))
        .collect();
    let repo_dir = args.repo_dir.clone().unwrap_or_else(default_repo_dir);
    let mut loaded = load::load(&args.path, &adaptors, logger)?;
    let (no_imports, extra_ignore) = execute::parse_ignore_imports(args.ignore_imports.as_deref());
    let mut ignore = extra_ignore;
    if let Some(globals) = loaded.plan["workflow"]["globals"].as_str() {
        ignore.extend(openfn_compiler::get_exports(globals));
    }
    let steps = loaded.plan["workflow"]["steps"]
        .as_array_mut()
        .ok_or_else(|| anyhow!("the workflow has no steps"))?;
    let mut compiled_text = String::new();
    for (i, step) in steps.iter_mut().enumerate() {
        let Some(source) = step["expression"].as_str().map(str::to_owned) else {
            continue;
        };
        let name = step["name"]
            .as_str()
            .or(step["id"].as_str())
            .unwrap_or("src")
            .to_owned();
        let imports = step["adaptors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|spec| adaptor_imports(spec, step, &repo_dir))
            .collect();
        let options = CompileOptions {
            name: name.clone(),
            add_imports: !no_imports,
            imports: AddImports {
                ignore: ignore.clone(),
                adaptors: imports,
            },
            ..CompileOptions::default()
        };
        let compiled = match openfn_compiler::compile(&source, &options) {
            Ok(compiled) => compiled,
            Err(e) => {
                let (reason, help) = if loaded.is_workflow {
                    (format!("Failed to compile job {name}"), source.clone())
                } else {
                    // the kit shows the job's path here, not its source
                    (
                        "Failed to compile job".to_owned(),
                        args.path.display().to_string(),
                    )
                };
                let from = loaded.sources.get(i);
                crate::report::compile_failure(logger, &reason, &e, &source, from, &help);
                return Ok(false);
            }
        };
        if !loaded.is_workflow {
            logger.cli(
                "success",
                format!("Compiled expression from {}", args.path.display()),
            );
        }
        compiled_text = compiled.code.clone();
        step["expression"] = Value::String(compiled.code);
        if loaded.is_workflow {
            // as the kit: each compiled step carries its source map
            step["sourceMap"] = serde_json::to_value(&compiled.map)?;
        }
    }
    if loaded.is_workflow {
        logger.cli("success", "Compiled all expressions in workflow");
    }
    let output = if loaded.is_workflow {
        serde_json::to_string_pretty(&loaded.plan)?
    } else {
        compiled_text
    };
    match &args.output_path {
        Some(path) => {
            std::fs::write(path, &output).with_context(|| format!("writing {}", path.display()))?;
            logger.cli("success", format!("Compiled to {}", path.display()));
        }
        None if crate::out::stdout_is_result() => {
            crate::out::line(crate::out::Stream::Stdout, &output);
        }
        None => logger.cli("success", format!("Result:\n\n{output}")),
    }
    Ok(true)
}

/// What add-imports knows about one adaptor: its exports when it is installed (or linked).
fn adaptor_imports(spec: &str, step: &Value, repo_dir: &Path) -> AdaptorImports {
    let parsed = load::expand_adaptor(spec, false);
    let linked = step["linker"][&parsed.name]["path"]
        .as_str()
        .map(PathBuf::from);
    let dir = linked.or_else(|| {
        let spec = openfn_repo::Specifier::parse(spec).ok()?;
        let repo =
            openfn_repo::Repo::open(repo_dir, openfn_repo::RegistryConfig::default()).ok()?;
        repo.resolve(&spec).map(|i| i.path)
    });
    AdaptorImports {
        name: parsed.name,
        exports: dir.map(|d| openfn_compiler::adaptor_exports(&d)),
        export_all: true,
    }
}

/// The kit's built-in test workflow: three steps that log, then answer 42 (or
/// `state.data.answer` from `-S`).
fn test_plan() -> Value {
    serde_json::json!({
        "options": { "start": "start" },
        "workflow": { "steps": [
            {
                "id": "start",
                "state": { "data": { "defaultAnswer": 42 } },
                "expression": "const fn = () => (state) => { console.log('Starting computer...'); return state; }; fn()",
                "next": { "calculate": "!state.error" }
            },
            {
                "id": "calculate",
                "expression": "const fn = () => (state) => { console.log('Calculating life, the universe, and everything...'); return state }; fn()",
                "next": { "result": true }
            },
            {
                "id": "result",
                "expression": "const fn = () => (state) => ({ data: { answer: state.data.answer || state.data.defaultAnswer } }); fn()"
            }
        ]}
    })
}

/// `openfn test`: runs the kit's test workflow through the engine and prints `Result: 42`.
pub fn test(args: TestArgs, logger: &Logger) -> Result<bool> {
    crate::report::versions(logger, &[], false);
    logger.cli("info", "Running test workflow...");
    logger.blank();
    logger.cli("info", "Execution plan:");
    let mut plan = test_plan();
    logger.line("CLI", "info", &[plan.clone()], None);
    logger.blank();
    let mut input = plan["workflow"]["steps"][0]["state"].take();
    if let Some(steps) = plan["workflow"]["steps"].as_array_mut()
        && let Some(first) = steps.first_mut().and_then(Value::as_object_mut)
    {
        first.remove("state");
    }
    match &args.state_stdin {
        Some(text) => {
            let given: Value = serde_json::from_str(text)
                .map_err(|e| anyhow!("invalid JSON in --state-stdin: {e}"))?;
            if let (Some(data), Some(extra)) =
                (input["data"].as_object_mut(), given["data"].as_object())
            {
                data.extend(extra.clone());
            }
        }
        None => {
            logger.cli(
                "debug",
                "No state provided: pass an object with state.data.answer to provide custom input",
            );
            logger.cli("debug", "eg: -S \"{ \"data\": { \"answer\": 33 }  }\"");
        }
    }
    if !crate::report::check_compiles(logger, &plan, true, &[]) {
        return Ok(false);
    }
    logger.cli("success", "Compiled all expressions in workflow");
    // as `execute`: the step timeout (the kit passes it as the runtime's default)
    let mut plan = plan;
    plan["options"]["timeout"] = Value::from(300_000);
    let job = Job {
        plan,
        input: Some(serde_json::value::to_raw_value(&input).context("encoding the input state")?),
        repo_dir: default_repo_dir(),
        autoinstall: false,
        compile: CompileSettings::default(),
        timeout_ms: 300_000,
        memory_limit_mb: 500,
        sanitize: None,
        cache_dir: None,
        sandbox: openfn_engine::Sandbox::Native,
    };
    let outcome = execute::run(job, logger)?;
    if outcome.failed {
        return Ok(false);
    }
    // The test workflow's state is shallow: read it as a value to find `data.answer`.
    let answer = outcome
        .state
        .as_ref()
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .map(|s| s["data"]["answer"].clone())
        .unwrap_or(Value::Null);
    let result = match answer {
        Value::String(s) => s,
        Value::Null => "undefined".to_owned(),
        v => v.to_string(),
    };
    logger.cli("success", format!("Result: {result}"));
    Ok(true)
}

fn open_repo(args: &RepoDirArgs) -> Result<openfn_repo::Repo> {
    let dir = args.repo_dir.clone().unwrap_or_else(default_repo_dir);
    openfn_repo::Repo::open(&dir, openfn_repo::RegistryConfig::from_env())
        .map_err(|e| anyhow!("cannot open the adaptor repo at {}: {e}", dir.display()))
}

/// `openfn repo install <packages…>`.
pub fn install(args: InstallArgs, logger: &Logger) -> Result<bool> {
    let specs: Vec<String> = args
        .packages
        .iter()
        .chain(&args.adaptors)
        .map(|p| load::expand_adaptor(p, !args.no_expand_adaptors).specifier)
        .collect();
    if specs.is_empty() {
        bail!("nothing to install (hint: openfn repo install common http@7.2.10)");
    }
    let repo = open_repo(&args.repo)?;
    let parsed = specs
        .iter()
        .map(|s| openfn_repo::Specifier::parse(s).map_err(|e| anyhow!("{e}")))
        .collect::<Result<Vec<_>>>()?;
    logger.cli(
        "always",
        format!(
            "Installing packages into {}: {}",
            repo.dir().display(),
            specs.join(", ")
        ),
    );
    // The bars start after the line above: a line written under a drawn bar would share its row.
    let view = crate::progress::InstallView::start(&specs.join(", "));
    let repo = Arc::new(repo.with_progress(view.observer()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(repo.install(&parsed));
    let fetched = view.finish();
    let installed = result.map_err(|e| crate::report::install_error(&e))?;
    for i in &installed {
        match fetched
            .iter()
            .find(|f| f.name == i.name && f.version == i.version)
        {
            Some(f) => logger.cli("success", crate::progress::describe(f)),
            None => logger.cli("success", format!("{}@{} is installed", i.name, i.version)),
        }
    }
    logger.cli("success", "Installation complete");
    Ok(true)
}

/// `openfn repo list`.
pub fn list(args: RepoDirArgs, logger: &Logger) -> Result<bool> {
    let repo = open_repo(&args)?;
    let installed = repo.list().map_err(|e| anyhow!("{e}"))?;
    logger.cli(
        "always",
        format!("Repo working directory is: {}", repo.dir().display()),
    );
    logger.cli("always", "Installed packages:");
    if installed.is_empty() {
        crate::out::line(crate::out::Stream::Stdout, "  (none)");
    }
    let mut by_name: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for i in &installed {
        by_name.entry(&i.name).or_default().push(&i.version);
    }
    for (name, versions) in by_name {
        crate::out::line(crate::out::Stream::Stdout, &format!("  {name}"));
        for v in versions {
            crate::out::line(crate::out::Stream::Stdout, &format!("    {v}"));
        }
    }
    Ok(true)
}

/// `openfn repo clean`.
pub fn clean(args: CleanArgs, logger: &Logger) -> Result<bool> {
    let repo = open_repo(&args.repo)?;
    if !args.force {
        use std::io::{BufRead, IsTerminal};
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to delete {} without confirmation (hint: pass -f)",
                repo.dir().display()
            );
        }
        crate::out::write(
            crate::out::Stream::Stdout,
            &format!(
                "This will remove everything at {}. Do you wish to continue? [y/N] ",
                repo.dir().display()
            ),
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            logger.cli("always", "Repo not cleaned");
            return Ok(true);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(repo.clean()).map_err(|e| anyhow!("{e}"))?;
    logger.cli("success", "Repo cleaned");
    Ok(true)
}

/// `openfn version`.
pub fn version(logger: &Logger) -> Result<bool> {
    let v = env!("CARGO_PKG_VERSION");
    if logger.json() {
        logger.cli("always", format!("openfn {v}"));
    } else {
        crate::out::write(
            crate::out::Stream::Stdout,
            &format!(
                "Versions:\n  ▸ openfn (cli) {v}\n  ▸ compiler     {v}\n  ▸ runtime      {v}\n  ▸ engine       {v}\n"
            ),
        );
    }
    Ok(true)
}
