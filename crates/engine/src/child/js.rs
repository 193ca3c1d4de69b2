//! The real child job: compile every step with `openfn-compiler` (adaptor exports read from the
//! installed packages), then run the plan in QuickJS with `openfn-runtime`, forwarding the
//! runtime's events, logs and resolution requests to the supervisor.
//!
//! This is the only place where the engine touches job code, and it only ever runs in a child.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_compiler::{AdaptorImports, AddImports, Options as CompileOptions};
use openfn_lexicon::log::{Level, LogLevel, LogLine};
use openfn_lexicon::plan::{ExecutionPlan, Step};
use openfn_runtime::{
    Callbacks, Event, Input, ModuleInfo, Outcome, Prepared, RtError, RunError, RunOptions,
    StateJson,
};
use serde_json::Value;

use super::{ChildJob, Failure, JobRequest, JobSink};
use crate::config::CompileSettings;
use crate::event::{ErrorInfo, Mem, Severity};
use crate::install::split_specifier;
use crate::ipc::RunSettings;
use crate::template::TemplateSpec;

/// Extra time the runtime's own deadline gets beyond the run timeout: the supervisor's timer
/// fires first and reports `TimeoutError`; the runtime then stops the JavaScript by itself.
pub(super) const RUNTIME_DEADLINE_SLACK_MS: u64 = 200;

/// QuickJS's stack limit. `JSON.stringify` of a state takes about 300 bytes of it per nesting
/// level, so 8 MiB serialises states some 25,000 levels deep (V8, in the kit, manages several
/// thousand); deeper, the step fails with `Maximum call stack size exceeded`. The run thread's
/// stack is sized above it.
pub const QUICKJS_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Compiles and runs workflows with the real compiler and QuickJS runtime.
pub struct JsJob {
    rt: tokio::runtime::Runtime,
    /// The whitelist a template prepared its runtime with (a run with another one does not
    /// use the prepared runtime).
    prepared_whitelist: Vec<String>,
    /// The node host of the adaptor realm for the last repo, shared by the runs of this child
    /// (resolution, bytecode and HTTP connection caches).
    node_host: std::sync::Mutex<Option<(PathBuf, Vec<PathBuf>, openfn_runtime::NodeAdaptorHost)>>,
}

impl JsJob {
    /// A job with its own single-threaded async runtime (QuickJS needs timers).
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            rt,
            prepared_whitelist: Vec::new(),
            node_host: std::sync::Mutex::new(None),
        })
    }
}

/// The exports of a template's adaptors, read (from their type definitions) before it forks:
/// its runs compile against them without reading and parsing the files again. Unset outside
/// templates and their runs.
static TEMPLATE_EXPORTS: std::sync::OnceLock<std::collections::HashMap<PathBuf, Vec<String>>> =
    std::sync::OnceLock::new();

/// The names an adaptor at `dir` exports (a template's copy when it has one).
fn exports_of(dir: &Path) -> Vec<String> {
    TEMPLATE_EXPORTS
        .get()
        .and_then(|known| known.get(dir).cloned())
        .unwrap_or_else(|| openfn_compiler::adaptor_exports(dir))
}

/// Prepares a template's runtime: the adaptor set evaluated in a QuickJS runtime, on this
/// thread, with a timer-only async runtime that is gone before this returns (the template
/// stays single-threaded).
pub fn prepare_template(spec: &TemplateSpec) -> Result<Prepared, String> {
    let repo = PathBuf::from(&spec.repo_dir);
    let mut linked: Vec<PathBuf> = spec.adaptors.values().map(PathBuf::from).collect();
    linked.sort();
    linked.dedup();
    let host = openfn_runtime::NodeAdaptorHost::for_repo_and_links(&repo, &linked, &["*"], true);
    let options = RunOptions {
        repo: Some(repo),
        whitelist: spec.whitelist.clone(),
        log_level: LogLevel::Debug,
        adaptor_host: Rc::new(host),
        max_stack_size: QUICKJS_STACK_BYTES,
        ..RunOptions::default()
    };
    let modules = spec
        .adaptors
        .iter()
        .map(|(name, path)| {
            let info = ModuleInfo {
                path: Some(path.clone()),
                version: None,
            };
            (name.clone(), info)
        })
        .collect();
    let exports = spec
        .adaptors
        .values()
        .map(|dir| {
            (
                PathBuf::from(dir),
                openfn_compiler::adaptor_exports(Path::new(dir)),
            )
        })
        .collect();
    let _ = TEMPLATE_EXPORTS.set(exports);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let prepared = rt
        .block_on(Prepared::with_log(
            &options,
            modules,
            crate::template::log_while_preparing,
        ))
        .map_err(|e| e.to_string());
    drop(rt);
    prepared
}

/// The job of a run forked from a template: its own async runtime (started after the fork)
/// and the template's prepared runtime (this process's copy), used by its one run.
pub struct ForkedJsJob<'a> {
    job: JsJob,
    prepared: std::cell::Cell<Option<&'a Prepared>>,
}

impl<'a> ForkedJsJob<'a> {
    /// The job for a forked run with `prepared`.
    pub fn new(prepared: &'a Prepared, whitelist: Vec<String>) -> std::io::Result<Self> {
        let mut job = JsJob::new()?;
        job.prepared_whitelist = whitelist;
        Ok(Self {
            job,
            prepared: std::cell::Cell::new(Some(prepared)),
        })
    }
}

impl ChildJob for ForkedJsJob<'_> {
    fn versions(&self) -> BTreeMap<String, String> {
        self.job.versions()
    }

    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        // Only the first run may use it (a forked process runs one).
        self.job.run_with(request, sink, self.prepared.take())
    }
}

fn name_of(step: &Step) -> &str {
    step.name.as_deref().or(step.id.as_deref()).unwrap_or("")
}

/// Where an adaptor of a step lives: its `linker` path, else the repository alias directory.
fn adaptor_dir(step: &Step, spec: &str, repo: &Path) -> Option<PathBuf> {
    let (name, version) = split_specifier(spec);
    if let Some(path) = step
        .linker
        .as_ref()
        .and_then(|l| l.get(name))
        .and_then(|m| m.path.as_ref())
    {
        return Some(PathBuf::from(path));
    }
    let version = version?;
    Some(repo.join("node_modules").join(format!("{name}_{version}")))
}

/// Compiles every step's expression in place (`expression` = module text, `sourceMap` set).
pub fn compile_plan(
    plan: &mut ExecutionPlan,
    repo: &Path,
    settings: &CompileSettings,
) -> Result<(), ErrorInfo> {
    compile_plan_with(plan, repo, settings, &mut |_, _| {})
}

/// [`compile_plan`], calling `compiled(step name if it has one, time)` after each step
/// compiles.
pub fn compile_plan_with(
    plan: &mut ExecutionPlan,
    repo: &Path,
    settings: &CompileSettings,
    compiled: &mut dyn FnMut(Option<&str>, Duration),
) -> Result<(), ErrorInfo> {
    if settings.skip {
        return Ok(());
    }
    let mut ignore = settings.ignore_imports.clone();
    if let Some(globals) = plan.workflow.globals.as_deref() {
        ignore.extend(openfn_compiler::get_exports(globals));
    }
    for step in &mut plan.workflow.steps {
        let Some(source) = step.expression.as_deref() else {
            continue;
        };
        let adaptors = step
            .adaptors
            .iter()
            .flatten()
            .map(|spec| {
                let exports = adaptor_dir(step, spec, repo).map(|dir| exports_of(&dir));
                AdaptorImports {
                    name: split_specifier(spec).0.to_owned(),
                    exports,
                    export_all: true,
                }
            })
            .collect();
        let options = CompileOptions {
            name: name_of(step).to_owned(),
            add_imports: !settings.no_imports,
            imports: AddImports {
                ignore: ignore.clone(),
                adaptors,
            },
            ..CompileOptions::default()
        };
        let started = Instant::now();
        match openfn_compiler::compile(source, &options) {
            Ok(output) => {
                step.expression = Some(output.code);
                step.source_map = serde_json::to_value(&output.map).ok();
                compiled(step.name.as_deref(), started.elapsed());
            }
            Err(e) => {
                let mut error = ErrorInfo::new(
                    "CompileError",
                    format!("{}: {e}", name_of(step)),
                    Severity::Crash,
                );
                error.name = Some(e.kind().to_owned());
                return Err(error);
            }
        }
    }
    Ok(())
}

/// A runtime error as the engine reports it.
fn error_info(e: &RtError) -> ErrorInfo {
    ErrorInfo {
        error_type: e.name.clone(),
        name: Some(e.name.clone()),
        subtype: e.subtype.clone(),
        message: e.message.clone(),
        severity: e.severity,
    }
}

/// Forwards runtime callbacks to the supervisor through the sink.
struct Bridge {
    sink: Arc<dyn JobSink>,
    job_log_level: Option<String>,
}

impl Bridge {
    fn job_line_allowed(&self, level: Level) -> bool {
        match self.job_log_level.as_deref() {
            None => true,
            Some("none") => false,
            Some(other) => serde_json::from_value::<LogLevel>(Value::String(other.to_owned()))
                .map(|l| l.allows(level))
                .unwrap_or(true),
        }
    }
}

fn state_text(state: Option<StateJson>) -> String {
    state
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "null".to_owned())
}

impl Callbacks for Bridge {
    fn notify(&self, event: Event) -> impl std::future::Future<Output = ()> {
        match event {
            Event::JobStart { job_id } => self.sink.job_start(&job_id),
            Event::JobComplete {
                job_id,
                duration,
                state,
                next,
                mem,
            } => {
                let mem = Mem {
                    job: mem.job,
                    system: mem.system,
                    peak: mem.peak,
                };
                self.sink
                    .job_complete(&job_id, duration, next, mem, state_text(state), None);
            }
            Event::JobError {
                job_id,
                duration,
                error,
                state,
                next,
            } => {
                self.sink.job_error(
                    &job_id,
                    duration,
                    next,
                    error_info(&error),
                    state_text(state),
                    None,
                );
            }
            Event::InitStart { .. } | Event::InitComplete { .. } | Event::LoadState { .. } => {}
        }
        async {}
    }

    fn log(&self, line: LogLine) {
        if line.name == "JOB" && !self.job_line_allowed(line.level) {
            return;
        }
        let message = serde_json::to_string(&line.message).unwrap_or_else(|_| "[]".to_owned());
        self.sink.log(line.level.as_str(), &line.name, message);
    }

    fn resolve_credential(
        &self,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Value, String>> {
        let result = self
            .sink
            .credential(id)
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()));
        async move { result }
    }

    fn resolve_state(&self, id: &str) -> impl std::future::Future<Output = Result<Value, String>> {
        let result = self
            .sink
            .state(id)
            .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()));
        async move { result }
    }
}

fn log_line(sink: &dyn JobSink, level: &str, name: &str, text: String) {
    sink.log(
        level,
        name,
        Value::Array(vec![Value::String(text)]).to_string(),
    );
}

impl JsJob {
    /// The node host for adaptors of `repo` (any HTTP host, as the kit; bytecode cached under
    /// `<repo>/node_modules/.cache`).
    /// Directories linked in by the plan (`linker[name].path`) may hold modules too.
    fn node_host_for(&self, repo: &Path, linked: Vec<PathBuf>) -> openfn_runtime::NodeAdaptorHost {
        let mut slot = self
            .node_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slot.as_ref() {
            Some((dir, links, host)) if dir == repo && *links == linked => host.clone(),
            _ => {
                let host = openfn_runtime::NodeAdaptorHost::for_repo_and_links(
                    repo,
                    &linked,
                    &["*"],
                    true,
                );
                *slot = Some((repo.to_path_buf(), linked, host.clone()));
                host
            }
        }
    }
}

impl ChildJob for JsJob {
    fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("compiler".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("runtime".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
        ])
    }

    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        self.run_with(request, sink, None)
    }
}

impl JsJob {
    /// Compiles and runs one workflow, in `prepared` (a template's runtime with the adaptors
    /// loaded) when given, else in a fresh runtime.
    fn run_with(
        &self,
        request: JobRequest,
        sink: Arc<dyn JobSink>,
        prepared: Option<&Prepared>,
    ) -> Result<String, Failure> {
        let settings = request.settings;
        let (plan, repo) = compiled_plan(&request.plan, &settings, sink.as_ref())?;

        let input = match request.input {
            Some(raw) => Input::State(StateJson::from_text(raw.get())),
            None => Input::Empty,
        };
        let options = self.run_options(&plan, repo, &settings);
        let bridge = Rc::new(Bridge {
            sink: Arc::clone(&sink),
            job_log_level: settings.job_log_level.clone(),
        });
        let prepared = prepared.filter(|_| settings.whitelist == self.prepared_whitelist);
        let result = match prepared {
            Some(prepared) => self.rt.block_on(openfn_runtime::run_prepared(
                prepared, &plan, input, options, bridge,
            )),
            None => self
                .rt
                .block_on(openfn_runtime::run(&plan, input, options, bridge)),
        };
        outcome_of(result)
    }

    /// The runtime's options for one run of `plan` (its adaptors' trees linked into the host).
    fn run_options(
        &self,
        plan: &ExecutionPlan,
        repo: PathBuf,
        settings: &RunSettings,
    ) -> RunOptions {
        let mut linked: Vec<PathBuf> = plan
            .workflow
            .steps
            .iter()
            .filter_map(|step| step.linker.as_ref())
            .flat_map(|linker| linker.iter().map(|(_, module)| module))
            .filter_map(|module| module.path.as_deref())
            .map(PathBuf::from)
            .collect();
        linked.sort();
        linked.dedup();
        let adaptor_host = Rc::new(self.node_host_for(&repo, linked));
        RunOptions {
            repo: Some(repo),
            whitelist: settings.whitelist.clone(),
            globals: settings.globals.clone().map(Value::Object),
            state_props_to_remove: Some(settings.state_props_to_remove.clone()),
            run_timeout_ms: (settings.run_timeout_ms > 0)
                .then(|| settings.run_timeout_ms + RUNTIME_DEADLINE_SLACK_MS),
            state_limit_mb: settings.state_limit_mb,
            memory_limit_mb: Some(settings.memory_limit_mb),
            log_level: LogLevel::Debug,
            immutable_state: settings.compile.immutable_state,
            // `mem.job` on step:complete is the heap in use, as the kit sends heapUsed
            measure_memory: true,
            profile: settings.profile,
            console_text: settings.console_text,
            adaptor_cache_key: settings
                .adaptor_cache_key
                .then(|| settings.workflow_id.clone()),
            adaptor_host,
            max_stack_size: QUICKJS_STACK_BYTES,
            skip_teardown: settings.last_run,
            ..RunOptions::default()
        }
    }
}

/// The run's plan (`plan_json`) with every step compiled ([`compile_logged`]) against the
/// run's repo, and that repo; an invalid plan is a `ValidationError`.
pub(super) fn compiled_plan(
    plan_json: &serde_json::value::RawValue,
    settings: &RunSettings,
    sink: &dyn JobSink,
) -> Result<(ExecutionPlan, PathBuf), Failure> {
    let mut plan = ExecutionPlan::from_json_str(plan_json.get()).map_err(|e| {
        Failure::new(ErrorInfo::new(
            "ValidationError",
            e.to_string(),
            Severity::Crash,
        ))
    })?;
    let repo = PathBuf::from(&settings.repo_dir);
    compile_logged(&mut plan, &repo, settings, sink)?;
    Ok((plan, repo))
}

/// Compiles every step of `plan`, with the kit's compile log lines and the compile events.
fn compile_logged(
    plan: &mut ExecutionPlan,
    repo: &Path,
    settings: &RunSettings,
    sink: &dyn JobSink,
) -> Result<(), Failure> {
    sink.compile_start();
    let started = Instant::now();
    let kit_lines = settings.compile.log_steps && !settings.compile.skip;
    if kit_lines {
        log_line(
            sink,
            "info",
            "R/T",
            "Compiling all workflow steps...".to_owned(),
        );
    }
    // The kit compiler's lines: `Finished in` (its transform), then `Compiled <name> in`
    // for a named step, else `Compilation complete in`.
    let mut step_lines = |name: Option<&str>, took: Duration| {
        if kit_lines {
            let secs = took.as_millis() as f64 / 1000.0;
            log_line(sink, "debug", "R/T", format!("Finished in {secs}s"));
            let took = to_precision_2(secs);
            let line = match name {
                Some(name) => format!("Compiled {name} in {took}s"),
                None => format!("Compilation complete in {took}s"),
            };
            log_line(sink, "info", "R/T", line);
        }
    };
    if let Err(error) = compile_plan_with(plan, repo, &settings.compile, &mut step_lines) {
        // as the kit's engine: from RTE, at info (the error itself follows as the run's)
        log_line(
            sink,
            "info",
            "RTE",
            "Error occurred during compilation".to_owned(),
        );
        return Err(Failure::new(error));
    }
    let duration = started.elapsed();
    let (level, took) = if kit_lines {
        ("success", to_precision_2(duration.as_secs_f64()))
    } else {
        ("info", (duration.as_millis() as f64 / 1000.0).to_string())
    };
    log_line(
        sink,
        level,
        "R/T",
        format!("Workflow compilation complete in {took}s"),
    );
    sink.compile_complete(duration.as_millis() as u64);
    Ok(())
}

/// The run's final state text, or its failure as the engine reports it.
fn outcome_of(result: Result<Outcome, RunError>) -> Result<String, Failure> {
    match result {
        Ok(outcome) => Ok(state_text(outcome.state)),
        Err(RunError::Aborted(e)) => {
            let mut error = error_info(&e);
            // The kit's workflow-error `type` is `subtype || type || name`.
            if let Some(subtype) = &e.subtype {
                error.error_type = subtype.clone();
            }
            Err(Failure {
                recycle: e.name == "OOMError",
                error,
            })
        }
        Err(other) => Err(Failure::new(ErrorInfo::new(
            "ExecutionError",
            other.to_string(),
            Severity::Exception,
        ))),
    }
}

/// JavaScript's `Number.prototype.toPrecision(2)` for the small non-negative durations the
/// kit prints (`0.0010`, `0.012`, `0.12`, `1.2`, `12`; `1.2e+2` from 100 up).
fn to_precision_2(x: f64) -> String {
    if x == 0.0 {
        return "0.0".to_owned();
    }
    let exponent = x.abs().log10().floor() as i32;
    if !(-6..2).contains(&exponent) {
        let mantissa = x / 10f64.powi(exponent);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa:.1}e{sign}{}", exponent.abs());
    }
    let decimals = usize::try_from(1 - exponent).unwrap_or(0);
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod precision_tests {
    use super::to_precision_2;

    #[test]
    fn matches_javascript_to_precision_2() {
        // Values printed by node: (x).toPrecision(2)
        for (x, js) in [
            (0.0, "0.0"),
            (0.001, "0.0010"),
            (0.012, "0.012"),
            (0.123, "0.12"),
            (1.234, "1.2"),
            (12.34, "12"),
            (123.4, "1.2e+2"),
        ] {
            assert_eq!(to_precision_2(x), js, "{x}");
        }
    }
}
