//! The plan loop and step execution (docs/execution.md §2.3–§2.8): one QuickJS runtime per run, a
//! fresh job context per step, one adaptor context per run, a console-only context for edge
//! conditions, limits enforced through the interrupt handler and the memory limit.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::function::{Async, Func};
use rquickjs::{
    AsyncContext, AsyncRuntime, Coerced, Ctx, Function, Module, Object, Persistent, Promise, Value,
};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::deep_json;
use crate::error::{Position, RtError, RunError, Severity};
use crate::events::{Callbacks, Event, MemoryUse, StateJson, parse_level};
use crate::host::{AdaptorHost, EsmHost};
use crate::linker::{Linker, LinkerData, LoadedAdaptor, Pending, RunLoader, RunResolver};
use crate::messages::translate_at;
use crate::plan::{CompiledPlan, CompiledStep, Edge, compile, merge_modules};
use crate::sourcemap::{frame_position, map_error};
use openfn_lexicon::log::{Level, LogLevel, LogLine, names, print_duration};
use openfn_lexicon::plan::{ExecutionPlan, Lazy, ModuleInfo};

const JOB_REALM_JS: &str = include_str!("js/job_realm.js");
const REALM_COMMON_JS: &str = include_str!("js/realm_common.js");
const JOB_MODULE: &str = "vm:module(0)";

/// Options of a run (the kit runtime's `run` options that make sense here).
#[derive(Clone)]
pub struct RunOptions {
    /// Linker modules: specifier → path/version.
    pub modules: BTreeMap<String, ModuleInfo>,
    /// Adaptor repo directory (`<repo>/node_modules/<name>_<version>`).
    pub repo: Option<PathBuf>,
    /// Allowed job imports (regex sources: literals with `^`/`$`). Default `^@openfn/`.
    pub whitelist: Vec<String>,
    /// Globals injected into every job context (values are frozen).
    pub globals: Option<Json>,
    /// Pass a JSON clone of the state into each operation.
    pub immutable_state: bool,
    /// Keys removed from every step's output (default `configuration`).
    pub state_props_to_remove: Option<Vec<String>>,
    /// Step timeout when the plan has no `options.timeout`.
    pub default_run_timeout_ms: Option<u64>,
    /// A deadline for the whole run.
    pub run_timeout_ms: Option<u64>,
    /// Maximum size of a step's output state.
    pub state_limit_mb: f64,
    /// QuickJS heap limit for the run.
    pub memory_limit_mb: Option<u64>,
    /// QuickJS stack limit in bytes.
    pub max_stack_size: usize,
    /// Minimum level of emitted log lines.
    pub log_level: LogLevel,
    /// Host of the adaptor realm.
    pub adaptor_host: Rc<dyn AdaptorHost>,
    /// Measure the heap in use after each step for `job-complete.mem.job` (see
    /// [`MemoryUse`]). Off: `mem.job` is 0.
    pub measure_memory: bool,
    /// Profile each step's peak RSS for `job-complete.mem.peak` (the kit runtime's `profile`).
    /// Off: `peak` is absent.
    pub profile: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            modules: BTreeMap::new(),
            repo: None,
            whitelist: vec!["^@openfn/".to_string()],
            globals: None,
            immutable_state: false,
            state_props_to_remove: None,
            default_run_timeout_ms: None,
            run_timeout_ms: None,
            state_limit_mb: 500.0,
            memory_limit_mb: None,
            max_stack_size: 1024 * 1024,
            log_level: LogLevel::Info,
            adaptor_host: Rc::new(EsmHost),
            measure_memory: false,
            profile: false,
        }
    }
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("modules", &self.modules)
            .field("repo", &self.repo)
            .field("whitelist", &self.whitelist)
            .field("state_limit_mb", &self.state_limit_mb)
            .field("memory_limit_mb", &self.memory_limit_mb)
            .finish_non_exhaustive()
    }
}

/// Input of a run.
#[derive(Debug, Clone, Default)]
pub enum Input {
    /// No input: `{ data: {}, configuration: {} }`... assembled as `{}`.
    #[default]
    Empty,
    /// An input state.
    State(StateJson),
    /// A dataclip id, resolved through `Callbacks::resolve_state`.
    DataclipId(String),
}

/// What a run produced: the single leaf state, `{ leafId: state, … }` for several leaves, or
/// `None` (undefined).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The final state.
    pub state: Option<StateJson>,
}

/// Why the interrupt handler stopped JS.
#[derive(Default)]
pub(crate) struct Limits {
    deadline: Cell<Option<Instant>>,
    timeout_ms: Cell<u64>,
    timed_out: Cell<bool>,
    oom: Cell<bool>,
}

/// Descriptor of a thrown value, produced by the job realm's `describeError`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Thrown {
    kind: String,
    #[serde(default)]
    ctor: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    stack: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    fix: Option<String>,
    #[serde(default)]
    details: Option<Json>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    map_to_operation: Option<bool>,
}

/// The kind of a thrown value that could not be described (the describer itself failed).
const UNDESCRIBABLE: &str = "undescribable";

impl Thrown {
    fn undescribable() -> Thrown {
        Thrown {
            kind: UNDESCRIBABLE.into(),
            message: "unknown error".into(),
            ..Default::default()
        }
    }
}

/// How a step attempt ended.
enum Attempt {
    Done {
        state: Option<String>,
        removed: Vec<String>,
    },
    Failed {
        state: Option<String>,
        removed: Vec<String>,
        error: Box<RtError>,
    },
    NeedAdaptors(Vec<Pending>),
}

pub(crate) type LogSink = Rc<dyn Fn(LogLine)>;

/// Run a plan. Crash and kill severity errors reject (`RunError::Aborted`); fail errors are
/// written to `state.errors[stepId]` and the workflow goes on.
pub async fn run<C: Callbacks + 'static>(
    plan: &ExecutionPlan,
    input: Input,
    options: RunOptions,
    callbacks: Rc<C>,
) -> Result<Outcome, RunError> {
    let rt_line = |level: Level, message: Json| {
        let line = LogLine::now(level, names::RUNTIME, vec![message]);
        if options.log_level.allows(line.level) {
            callbacks.log(line);
        }
    };
    let compiled = match compile(plan) {
        Ok(c) => c,
        Err(e) => {
            rt_line(
                Level::Error,
                Json::String("Error validating execution plan".into()),
            );
            rt_line(
                Level::Error,
                json!({ "name": e.name, "message": e.message }),
            );
            rt_line(Level::Error, Json::String("Aborting".into()));
            return Err(e.into());
        }
    };
    let label = plan
        .workflow
        .name
        .clone()
        .or_else(|| plan.id.clone())
        .or_else(|| plan.workflow.id.clone())
        .unwrap_or_default();
    rt_line(Level::Info, Json::String(format!("Executing {label}")));
    let mut runner = Runner::new(compiled, options, callbacks).await?;
    let result = runner.run_plan(input).await;
    runner.shutdown().await;
    result
}

struct Runner<C: Callbacks + 'static> {
    plan: CompiledPlan,
    options: RunOptions,
    callbacks: Rc<C>,
    rt: AsyncRuntime,
    linker: Rc<Linker>,
    limits: Rc<Limits>,
    adaptor_ctx: Option<AsyncContext>,
    cond_ctx: Option<AsyncContext>,
    conditions: BTreeMap<(String, String), Persistent<Function<'static>>>,
    log: LogSink,
    run_deadline: Option<Instant>,
    failed_loads: HashMap<PathBuf, RtError>,
}

impl<C: Callbacks + 'static> Runner<C> {
    async fn new(
        plan: CompiledPlan,
        options: RunOptions,
        callbacks: Rc<C>,
    ) -> Result<Self, RunError> {
        let rt = AsyncRuntime::new()?;
        if let Some(mb) = options.memory_limit_mb {
            rt.set_memory_limit((mb as usize) * 1024 * 1024).await;
        }
        rt.set_max_stack_size(options.max_stack_size).await;
        let limits = Rc::new(Limits::default());
        let l = limits.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            if l.oom.get() {
                return true;
            }
            if let Some(d) = l.deadline.get()
                && Instant::now() >= d
            {
                l.timed_out.set(true);
                return true;
            }
            false
        })))
        .await;
        let linker = Rc::new(Linker::new(
            options.adaptor_host.clone(),
            options.whitelist.clone(),
            options.repo.clone(),
        ));
        rt.set_loader(RunResolver(linker.clone()), RunLoader(linker.clone()))
            .await;
        let min = options.log_level;
        let cb = callbacks.clone();
        let log: LogSink = Rc::new(move |line: LogLine| {
            if min.allows(line.level) {
                cb.log(line);
            }
        });
        let run_deadline = options
            .run_timeout_ms
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        Ok(Runner {
            plan,
            options,
            callbacks,
            rt,
            linker,
            limits,
            adaptor_ctx: None,
            cond_ctx: None,
            conditions: BTreeMap::new(),
            log,
            run_deadline,
            failed_loads: HashMap::new(),
        })
    }

    async fn shutdown(&mut self) {
        self.conditions.clear();
        self.linker.loaded.borrow_mut().clear();
        self.adaptor_ctx = None;
        self.cond_ctx = None;
    }

    fn rt_log(&self, level: Level, text: impl Into<String>) {
        (self.log)(LogLine::now(
            level,
            names::RUNTIME,
            vec![Json::String(text.into())],
        ));
    }

    async fn run_plan(&mut self, input: Input) -> Result<Outcome, RunError> {
        self.compile_conditions().await?;
        let input = match input {
            Input::Empty => None,
            Input::State(s) => Some(s),
            Input::DataclipId(id) => {
                let start = Instant::now();
                self.rt_log(Level::Debug, format!("fetching intial state {id}"));
                let value = self
                    .callbacks
                    .resolve_state(&id)
                    .await
                    .map_err(RunError::Callback)?;
                let duration = start.elapsed().as_millis() as u64;
                self.callbacks
                    .notify(Event::LoadState {
                        job_id: id.clone(),
                        duration,
                    })
                    .await;
                self.rt_log(
                    Level::Success,
                    format!("loaded state for {id} in {duration}ms"),
                );
                Some(StateJson::from_value(&value))
            }
        };
        let mut queue: VecDeque<(String, Option<StateJson>)> = VecDeque::new();
        queue.push_back((self.plan.start.clone(), input));
        let mut leaves: Vec<(String, StateJson)> = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        while let Some((id, state)) = queue.pop_front() {
            let Some(step) = self.plan.steps.get(&id).cloned() else {
                break;
            };
            let count = seen.entry(id.clone()).or_insert(0);
            let unique = if *count == 0 {
                id.clone()
            } else {
                format!("{id}-{count}")
            };
            *count += 1;
            let (result, next) = self.execute_step(&step, state).await?;
            let is_end = self.plan.end.as_deref() == Some(id.as_str());
            if let Some(r) = &result
                && (is_end || step.next.is_empty())
                && is_truthy_json(r.as_str())
            {
                leaves.push((unique, r.clone()));
            }
            if is_end {
                break;
            }
            for n in next {
                queue.push_back((n, result.clone()));
            }
        }
        let state = match leaves.len() {
            0 => None,
            1 => leaves.pop().map(|(_, s)| s),
            _ => {
                let mut out = String::from("{");
                for (i, (k, v)) in leaves.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::String(k.clone()).to_string());
                    out.push(':');
                    out.push_str(v.as_str());
                }
                out.push('}');
                Some(StateJson::from_text(out))
            }
        };
        Ok(Outcome { state })
    }

    /// Run one step; returns its output state and the ids to queue next.
    async fn execute_step(
        &mut self,
        step: &CompiledStep,
        input: Option<StateJson>,
    ) -> Result<(Option<StateJson>, Vec<String>), RunError> {
        let Some(expression) = step.expression.clone() else {
            let next = self.calculate_next(step, input.as_ref()).await?;
            return Ok((input, next));
        };
        let init_start = Instant::now();
        if self.options.profile {
            reset_peak_rss();
        }
        let job_id = step.id.clone();
        self.callbacks
            .notify(Event::InitStart {
                job_id: job_id.clone(),
            })
            .await;
        let configuration = match &step.configuration {
            Some(Lazy::Id(id)) => Some(
                self.callbacks
                    .resolve_credential(id)
                    .await
                    .map_err(RunError::Callback)?,
            ),
            Some(Lazy::Value(v)) => Some(v.clone()),
            None => None,
        };
        let default_state = match &step.state {
            Some(Lazy::Id(id)) => Some(
                self.callbacks
                    .resolve_state(id)
                    .await
                    .map_err(RunError::Callback)?,
            ),
            Some(Lazy::Value(v)) => Some(v.clone()),
            None => None,
        };
        self.callbacks
            .notify(Event::InitComplete {
                job_id: job_id.clone(),
                duration: init_start.elapsed().as_millis() as u64,
            })
            .await;
        let name = step.display_name().to_string();
        self.rt_log(Level::Info, format!("Starting step {name}"));
        let job_start = Instant::now();
        self.callbacks
            .notify(Event::JobStart {
                job_id: job_id.clone(),
            })
            .await;

        *self.linker.modules.borrow_mut() = merge_modules(&self.options.modules, &step.linker);
        let mut preload: Vec<String> = step.linker.keys().cloned().collect();
        for spec in imported_specifiers(&expression) {
            if spec != "@openfn/runtime" && self.linker.allowed(&spec) && !preload.contains(&spec) {
                preload.push(spec);
            }
        }
        let timeout_ms = self.plan.timeout.or(self.options.default_run_timeout_ms);
        self.arm_deadline(timeout_ms);
        for spec in preload {
            if let Ok(entry) = self.linker.entry_for(&spec)
                && !self.linker.loaded.borrow().contains_key(&entry)
                && let Err(e) = self.load_adaptor(&Pending { spec, entry }).await
                && e.severity == Severity::Kill
            {
                return Err(e.into());
            }
        }
        self.flush_linker_logs();

        let config_json = configuration.map(|v| v.to_string());
        let default_json = default_state.map(|v| v.to_string());
        let mut attempts = 0;
        let attempt = loop {
            attempts += 1;
            let a = self
                .attempt_step(
                    &expression,
                    input.as_ref(),
                    config_json.as_deref(),
                    default_json.as_deref(),
                    timeout_ms,
                )
                .await?;
            self.flush_linker_logs();
            match a {
                Attempt::NeedAdaptors(list) if attempts < 16 => {
                    let mut failed = None;
                    for pending in list {
                        if let Err(e) = self.load_adaptor(&pending).await {
                            failed = Some(e);
                            break;
                        }
                    }
                    if let Some(error) = failed {
                        if error.severity == Severity::Kill {
                            return Err(error.into());
                        }
                        break Attempt::Failed {
                            state: None,
                            removed: vec![],
                            error: Box::new(error),
                        };
                    }
                }
                Attempt::NeedAdaptors(list) => {
                    let spec = list.first().map(|p| p.spec.clone()).unwrap_or_default();
                    break Attempt::Failed {
                        state: None,
                        removed: vec![],
                        error: Box::new(RtError::import(format!(
                            "Failed to import module \"{spec}\""
                        ))),
                    };
                }
                other => break other,
            }
        };
        let duration = job_start.elapsed();
        match attempt {
            Attempt::Done { state, removed } => {
                self.log_removed(&removed);
                self.rt_log(
                    Level::Success,
                    format!("{name} completed in {}", print_duration(duration)),
                );
                let state = state.map(StateJson::from_text);
                let mem = self.memory().await;
                self.rt_log(
                    Level::Debug,
                    match mem.peak {
                        Some(peak) => format!(
                            "Step memory usage: [step {}mb] [system {}mb] [peak {}mb]",
                            mem.job / 1024 / 1024,
                            mem.system / 1024 / 1024,
                            peak / 1024 / 1024
                        ),
                        None => format!(
                            "Step memory usage: [step {}mb] [system {}mb]",
                            mem.job / 1024 / 1024,
                            mem.system / 1024 / 1024
                        ),
                    },
                );
                let next = self.calculate_next(step, state.as_ref()).await?;
                self.callbacks
                    .notify(Event::JobComplete {
                        job_id: job_id.clone(),
                        duration: init_start.elapsed().as_millis() as u64,
                        state: state.clone(),
                        next: next.clone(),
                        mem,
                    })
                    .await;
                if !next.is_empty() && state.is_none() {
                    self.rt_log(
                        Level::Warn,
                        format!(
                            "WARNING: step {job_id} did not return a state object. This may cause downstream jobs to fail."
                        ),
                    );
                }
                Ok((state, next))
            }
            Attempt::Failed {
                state,
                removed,
                error,
            } => {
                let mut error = *error;
                self.rt_log(
                    Level::Error,
                    format!("{name} aborted with error ({})", print_duration(duration)),
                );
                self.log_removed(&removed);
                if let Some(map) = &step.source_map {
                    if let Some(i) = error.operation_index
                        && let Some(op) = map.get("operations").and_then(|o| o.get(i))
                    {
                        error.line = op.get("line").and_then(Json::as_i64).or(Some(-1));
                        error.operation_name = Some(
                            op.get("name")
                                .and_then(Json::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        );
                    }
                    map_error(&mut error, map, &name);
                }
                let state = self.report(state, &job_id, &error);
                let next = if error.aborts() {
                    Vec::new()
                } else {
                    self.calculate_next(step, state.as_ref()).await?
                };
                self.callbacks
                    .notify(Event::JobError {
                        job_id: job_id.clone(),
                        duration: duration.as_millis() as u64,
                        error: error.clone(),
                        state: state.clone(),
                        next: next.clone(),
                    })
                    .await;
                if error.aborts() {
                    return Err(RunError::Aborted(Box::new(error)));
                }
                Ok((state, next))
            }
            Attempt::NeedAdaptors(_) => Ok((None, Vec::new())),
        }
    }

    fn log_removed(&self, removed: &[String]) {
        if !removed.is_empty() {
            self.rt_log(
                Level::Debug,
                format!("Cleaning up state. Removing keys: {}", removed.join(", ")),
            );
        }
    }

    fn flush_linker_logs(&self) {
        let lines: Vec<String> = self.linker.resolved_logs.borrow_mut().drain(..).collect();
        for l in lines {
            self.rt_log(Level::Info, l);
        }
    }

    /// Log the error report and write fail errors to `state.errors[stepId]`.
    fn report(&self, state: Option<String>, job_id: &str, error: &RtError) -> Option<StateJson> {
        if error.aborts() {
            self.rt_log(Level::Error, "CRITICAL ERROR! Aborting execution");
        }
        if error.name == "AdaptorError" && error.line.is_some_and(|l| l >= 0) {
            self.rt_log(
                Level::Error,
                format!(
                    "Error reported by \"{}()\" operation line {}:",
                    error.operation_name.as_deref().unwrap_or(""),
                    error.line.unwrap_or(-1)
                ),
            );
        }
        match (&error.stack, &error.pos) {
            (Some(stack), _) if error.name != "JobError" => {
                self.rt_log(Level::Error, stack.clone())
            }
            (_, Some(pos)) => self.rt_log(
                Level::Error,
                format!("{} ({}:{})", error.message, pos.line, pos.column),
            ),
            // as the kit: the message alone, without the error's class
            _ => self.rt_log(Level::Error, error.message.clone()),
        }
        // as the kit: after the stack, the source line with a caret under the column
        if let Some(pos) = &error.pos
            && let Some(src) = &pos.src
        {
            let step = error.step.as_deref().unwrap_or(job_id);
            (self.log)(LogLine::now(
                Level::Error,
                names::RUNTIME,
                vec![
                    Json::String("Error occurred at:".into()),
                    Json::String(step.to_owned()),
                ],
            ));
            let prefix = format!("{}: ", pos.line);
            self.rt_log(Level::Error, format!("{prefix}{src}"));
            self.rt_log(
                Level::Error,
                format!(
                    "{}{}",
                    " ".repeat(prefix.len()),
                    caret_line(src, pos.column)
                ),
            );
        }
        if let Some(fix) = &error.fix {
            self.rt_log(Level::Error, fix.clone());
        }
        if let Some(details) = &error.details {
            self.rt_log(Level::Error, "Additional error details:");
            (self.log)(LogLine::now(
                Level::Error,
                names::RUNTIME,
                vec![details.clone()],
            ));
        }
        if error.severity == Severity::Fail {
            self.rt_log(
                Level::Error,
                format!("Check state.errors.{job_id} for details"),
            );
            // On the text: the state may nest deeper than a `Value` can be parsed.
            let text = deep_json::with_step_error(state.as_deref(), job_id, &error.to_value());
            return Some(StateJson::from_text(text));
        }
        state.map(StateJson::from_text)
    }

    async fn memory(&self) -> MemoryUse {
        let job = if !self.options.measure_memory {
            0
        } else if let Some(bytes) = heap_in_use() {
            bytes
        } else {
            self.rt.memory_usage().await.malloc_size.max(0) as u64
        };
        MemoryUse {
            job,
            system: rss_bytes(),
            peak: self.options.profile.then(peak_rss_bytes).flatten(),
        }
    }

    fn arm_deadline(&self, timeout_ms: Option<u64>) -> Option<(Instant, Option<u64>)> {
        let step = timeout_ms
            .filter(|ms| *ms > 0)
            .map(|ms| (Instant::now() + Duration::from_millis(ms), Some(ms)));
        let run = self.run_deadline.map(|d| (d, self.options.run_timeout_ms));
        let chosen = match (step, run) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        self.limits.deadline.set(chosen.map(|c| c.0));
        self.limits
            .timeout_ms
            .set(chosen.and_then(|c| c.1).unwrap_or(0));
        self.limits.timed_out.set(false);
        chosen
    }

    async fn attempt_step(
        &mut self,
        expression: &str,
        input: Option<&StateJson>,
        configuration: Option<&str>,
        default_state: Option<&str>,
        timeout_ms: Option<u64>,
    ) -> Result<Attempt, RunError> {
        let ctx = AsyncContext::full(&self.rt).await?;
        let deadline = self.arm_deadline(timeout_ms);
        let log = self.log.clone();
        let limits = self.limits.clone();
        let linker = self.linker.clone();
        let opts = StepJsOptions {
            immutable: self.options.immutable_state,
            remove: self
                .options
                .state_props_to_remove
                .clone()
                .unwrap_or_else(|| vec!["configuration".to_string()]),
            globals: self.options.globals.as_ref().map(|g| g.to_string()),
            workflow_globals: self.plan.globals.clone(),
            credentials: self.plan.credentials.as_ref().map(|c| c.to_string()),
            limit_bytes: (self.options.state_limit_mb * 1024.0 * 1024.0) as usize,
            limit_mb: self.options.state_limit_mb,
            null_is_oom: self.options.memory_limit_mb.is_some(),
        };
        linker.pending.borrow_mut().clear();
        *linker.import_error.borrow_mut() = None;
        let input_text = input.map(|s| s.as_str().to_string());
        let config = configuration.map(str::to_string);
        let defaults = default_state.map(str::to_string);
        let expression = expression.to_string();
        let work = ctx.async_with(async move |ctx| {
            step_in_context(
                &ctx,
                &expression,
                input_text,
                config,
                defaults,
                &opts,
                log,
                limits,
                linker,
            )
            .await
        });
        let outcome = match deadline {
            Some((at, _)) => {
                let now = Instant::now();
                let wait = at.saturating_duration_since(now) + Duration::from_millis(5);
                match tokio::time::timeout(wait, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        self.limits.timed_out.set(true);
                        StepOutcome::Engine("timeout".into())
                    }
                }
            }
            None => work.await,
        };
        self.limits.deadline.set(None);
        drop(ctx);
        // free a big step's garbage (contexts hold cycles) so that the next step starts small;
        // small steps are left to QuickJS' own GC threshold
        let big = match &outcome {
            StepOutcome::Done { state: Some(t), .. }
            | StepOutcome::Failed { state: Some(t), .. } => t.len() > 1024 * 1024,
            _ => false,
        };
        if big {
            self.rt.run_gc().await;
        }
        if self.limits.oom.get() {
            return Err(RtError::oom().into());
        }
        if self.limits.timed_out.get() {
            let ms = deadline.and_then(|d| d.1).unwrap_or(0);
            return Err(RtError::timeout(ms).into());
        }
        Ok(match outcome {
            StepOutcome::Done { state, removed } => Attempt::Done { state, removed },
            StepOutcome::Failed {
                state,
                removed,
                error,
            } => {
                let pending: Vec<Pending> = self.linker.pending.borrow_mut().drain(..).collect();
                if !pending.is_empty() && error.name != "ImportError" {
                    let mut unique: Vec<Pending> = Vec::new();
                    for p in pending {
                        if !unique.iter().any(|u| u.entry == p.entry) {
                            unique.push(p);
                        }
                    }
                    Attempt::NeedAdaptors(unique)
                } else {
                    Attempt::Failed {
                        state,
                        removed,
                        error,
                    }
                }
            }
            StepOutcome::Engine(msg) => return Err(RunError::Engine(msg)),
        })
    }

    /// Evaluate an adaptor entry in the adaptor realm and cache its shaped namespace.
    async fn load_adaptor(&mut self, pending: &Pending) -> Result<(), RtError> {
        if self.linker.loaded.borrow().contains_key(&pending.entry) {
            return Ok(());
        }
        if let Some(e) = self.failed_loads.get(&pending.entry) {
            return Err(e.clone());
        }
        let ctx = self
            .adaptor_context()
            .await
            .map_err(|e| RtError::import(e.to_string()))?;
        let entry = pending.entry.to_string_lossy().into_owned();
        let limits = self.limits.clone();
        let work = ctx.async_with(async |ctx| -> Result<LoadedAdaptor, String> {
            let promise =
                Module::import(&ctx, entry.as_str()).map_err(|e| describe_engine_error(&ctx, e))?;
            let ns: Object<'_> = promise
                .into_future::<Object<'_>>()
                .await
                .map_err(|e| describe_engine_error(&ctx, e))?;
            let shaped = shape_exports(&ctx, ns).map_err(|e| describe_engine_error(&ctx, e))?;
            let names: Vec<String> = shaped.keys::<String>().filter_map(Result::ok).collect();
            Ok(LoadedAdaptor {
                names,
                ns: Persistent::save(&ctx, shaped),
            })
        });
        // loading runs under the step's deadline (the interrupt handler stops busy code; this
        // stops a top-level await that never settles)
        let result = match limits.deadline.get() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now()) + Duration::from_millis(5);
                match tokio::time::timeout(wait, work).await {
                    Ok(r) => r,
                    Err(_) => {
                        limits.timed_out.set(true);
                        Err("timed out".to_string())
                    }
                }
            }
            None => work.await,
        };
        if limits.oom.get() {
            return Err(RtError::oom());
        }
        if limits.timed_out.get() {
            return Err(RtError::timeout(limits.timeout_ms.get()));
        }
        match result {
            Ok(loaded) => {
                self.linker
                    .loaded
                    .borrow_mut()
                    .insert(pending.entry.clone(), loaded);
                Ok(())
            }
            Err(reason) => {
                let e = RtError::import(format!(
                    "Failed to import module {} from {} ({reason})",
                    pending.spec,
                    pending.entry.display()
                ));
                *self.linker.import_error.borrow_mut() = Some(e.clone());
                self.failed_loads.insert(pending.entry.clone(), e.clone());
                Err(e)
            }
        }
    }

    async fn adaptor_context(&mut self) -> rquickjs::Result<AsyncContext> {
        if let Some(ctx) = &self.adaptor_ctx {
            return Ok(ctx.clone());
        }
        let ctx = crate::adaptor_realm::create(
            &self.rt,
            self.log.clone(),
            self.limits.clone(),
            self.options.adaptor_host.clone(),
            self.linker.clone(),
        )
        .await?;
        self.adaptor_ctx = Some(ctx.clone());
        Ok(ctx)
    }

    async fn compile_conditions(&mut self) -> Result<(), RunError> {
        let mut sources = Vec::new();
        let mut ids: Vec<&String> = self.plan.steps.keys().collect();
        ids.sort();
        for id in ids {
            let step = &self.plan.steps[id];
            for (to, edge) in &step.next {
                if let Edge::Condition(expr) = edge {
                    sources.push((step.id.clone(), to.clone(), expr.clone()));
                }
            }
        }
        if sources.is_empty() {
            return Ok(());
        }
        let ctx = AsyncContext::full(&self.rt).await?;
        let log = self.log.clone();
        let limits = self.limits.clone();
        let linker = self.linker.clone();
        let (compiled, errors) = ctx
            .async_with(async |ctx| {
                let _ = ctx.store_userdata(LinkerData(linker.clone()));
                let mut compiled = Vec::new();
                let mut errors = Vec::new();
                let setup = (|| -> rquickjs::Result<()> {
                    let hostobj = host_object(&ctx, log, limits, names::RUNTIME)?;
                    let prelude =
                        realm_prelude(&ctx, "openfn:condition-realm", CONDITION_REALM_JS)?;
                    prelude.call::<_, ()>((hostobj,))
                })();
                if let Err(e) = setup {
                    errors.push(describe_engine_error(&ctx, e));
                    return (compiled, errors);
                }
                for (from, to, expr) in sources {
                    let src = format!("(state, upstreamStepId) => {expr}");
                    match ctx.eval::<Function<'_>, _>(src) {
                        Ok(f) => compiled.push(((from, to), Persistent::save(&ctx, f))),
                        Err(e) => {
                            let msg = describe_engine_error(&ctx, e);
                            errors.push(format!(
                                "Failed to compile edge condition {from}->{to} ({msg})"
                            ));
                        }
                    }
                }
                (compiled, errors)
            })
            .await;
        if !errors.is_empty() {
            return Err(RtError::new("Error", Severity::Crash, errors.join("\n\n")).into());
        }
        self.conditions = compiled.into_iter().collect();
        self.cond_ctx = Some(ctx);
        Ok(())
    }

    async fn calculate_next(
        &mut self,
        step: &CompiledStep,
        state: Option<&StateJson>,
    ) -> Result<Vec<String>, RunError> {
        let mut next = Vec::new();
        for (to, edge) in &step.next {
            match edge {
                Edge::Skip => continue,
                Edge::Always => next.push(to.clone()),
                Edge::Condition(_) => {
                    let Some(f) = self.conditions.get(&(step.id.clone(), to.clone())).cloned()
                    else {
                        continue;
                    };
                    let Some(ctx) = self.cond_ctx.clone() else {
                        continue;
                    };
                    let state_text = state.map(|s| s.as_str().to_string());
                    let from = step.id.clone();
                    let result = ctx
                        .async_with(async |ctx| -> Result<bool, String> {
                            let f = f.restore(&ctx).map_err(|e| e.to_string())?;
                            let s: Value<'_> = match &state_text {
                                Some(t) => ctx
                                    .json_parse(t.as_str())
                                    .map_err(|e| describe_engine_error(&ctx, e))?,
                                None => Value::new_undefined(ctx.clone()),
                            };
                            let v: Value<'_> = f
                                .call((s, from.as_str()))
                                .map_err(|e| describe_engine_error(&ctx, e))?;
                            let b: Coerced<bool> = v.get().map_err(|e| e.to_string())?;
                            Ok(b.0)
                        })
                        .await;
                    match result {
                        Ok(true) => {
                            self.rt_log(
                                Level::Debug,
                                format!("Edge condition returned true; {to} will be executed next"),
                            );
                            next.push(to.clone());
                        }
                        Ok(false) => {
                            self.rt_log(
                                Level::Debug,
                                format!("Edge condition returned false; {to} will NOT be executed"),
                            );
                        }
                        Err(msg) => return Err(RtError::edge_condition(msg).into()),
                    }
                }
            }
        }
        Ok(next)
    }
}

const CONDITION_REALM_JS: &str = r#"(function (host, common) {
  'use strict';
  common.blockCodeGeneration(globalThis);
  const emit = (level) => (...args) => { try { host.log(level, JSON.stringify(args)); } catch (e) {} };
  globalThis.console = Object.freeze({ log: emit('info'), info: emit('info'), debug: emit('debug'), warn: emit('warn'), error: emit('error') });
})"#;

struct StepJsOptions {
    immutable: bool,
    remove: Vec<String>,
    globals: Option<String>,
    workflow_globals: Option<String>,
    credentials: Option<String>,
    limit_bytes: usize,
    limit_mb: f64,
    /// A memory limit is set: a thrown `null` (QuickJS could not even allocate the error
    /// object) is then taken as out-of-memory.
    null_is_oom: bool,
}

enum StepOutcome {
    Done {
        state: Option<String>,
        removed: Vec<String>,
    },
    Failed {
        state: Option<String>,
        removed: Vec<String>,
        error: Box<RtError>,
    },
    Engine(String),
}

/// The host functions a realm prelude gets: log, rt (runtime log), sleep, oom.
pub(crate) fn host_object<'js>(
    ctx: &Ctx<'js>,
    log: LogSink,
    limits: Rc<Limits>,
    name: &'static str,
) -> rquickjs::Result<Object<'js>> {
    let obj = Object::new(ctx.clone())?;
    let l = log.clone();
    obj.set(
        "log",
        Func::from(move |level: String, text: String| {
            let message = match serde_json::from_str::<Json>(&text) {
                Ok(Json::Array(items)) => items,
                Ok(other) => vec![other],
                Err(_) => vec![Json::String(text)],
            };
            l(LogLine::now(parse_level(&level), name, message));
        }),
    )?;
    obj.set(
        "rt",
        Func::from(move |level: String, text: String| {
            log(LogLine::now(
                parse_level(&level),
                names::RUNTIME,
                vec![Json::String(text)],
            ));
        }),
    )?;
    obj.set(
        "sleep",
        Func::from(Async(|ms: f64| async move {
            tokio::time::sleep(Duration::from_micros((ms.max(0.0) * 1000.0) as u64)).await;
        })),
    )?;
    obj.set("oom", Func::from(move || limits.oom.set(true)))?;
    Ok(obj)
}

/// Everything a step does inside its fresh job context.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are the step's inputs"
)]
async fn step_in_context<'js>(
    ctx: &Ctx<'js>,
    expression: &str,
    input: Option<String>,
    configuration: Option<String>,
    default_state: Option<String>,
    opts: &StepJsOptions,
    log: LogSink,
    limits: Rc<Limits>,
    linker: Rc<Linker>,
) -> StepOutcome {
    let _ = ctx.store_userdata(LinkerData(linker.clone()));
    let kit = match setup_kit(ctx, log, limits) {
        Ok(k) => k,
        Err(e) => return StepOutcome::Engine(describe_engine_error(ctx, e)),
    };
    // state assembly
    let state: Value<'js> = match assemble(ctx, &kit, input, configuration, default_state, opts) {
        Ok(s) => s,
        Err(e) => return StepOutcome::Engine(describe_engine_error(ctx, e)),
    };
    let globals = match build_globals(ctx, opts).await {
        Ok(g) => g,
        Err(e) => {
            let error = classify(
                ctx,
                &kit,
                e,
                Some("[globals] "),
                opts.workflow_globals.as_deref().unwrap_or_default(),
                opts.null_is_oom,
            );
            return fail_with(ctx, &kit, &state, opts, error);
        }
    };
    let install: Function<'_> = match kit.get("install") {
        Ok(f) => f,
        Err(e) => return StepOutcome::Engine(e.to_string()),
    };
    if let Err(e) = install.call::<_, ()>((globals, state.clone())) {
        return StepOutcome::Engine(describe_engine_error(ctx, e));
    }
    let result = run_module(ctx, &kit, expression, state.clone(), opts).await;
    let _ = kit
        .get::<_, Function<'_>>("teardown")
        .and_then(|f| f.call::<_, ()>(()));
    match result {
        Ok(value) => finalize(ctx, &kit, &value, opts, None),
        Err(e) => {
            let error = match linker.import_error.borrow_mut().take() {
                Some(ie) => ie,
                None => classify(ctx, &kit, e, None, expression, opts.null_is_oom),
            };
            fail_with(ctx, &kit, &state, opts, error)
        }
    }
}

fn fail_with<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    state: &Value<'js>,
    opts: &StepJsOptions,
    error: RtError,
) -> StepOutcome {
    finalize(ctx, kit, state, opts, Some(error))
}

fn setup_kit<'js>(
    ctx: &Ctx<'js>,
    log: LogSink,
    limits: Rc<Limits>,
) -> rquickjs::Result<Object<'js>> {
    let hostobj = host_object(ctx, log, limits, names::JOB)?;
    let prelude = realm_prelude(ctx, "openfn:job-realm", JOB_REALM_JS)?;
    prelude.call((hostobj,))
}

thread_local! {
    /// Realm preludes compiled once per thread, by name (stripped bytecode: several times
    /// faster to load than parsing the source in every fresh context).
    static PRELUDE_BYTECODE: std::cell::RefCell<HashMap<&'static str, Rc<Vec<u8>>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// A realm's setup function: `prelude` (a `(host, common) => …` function expression) with
/// `realm_common.js` evaluated in the same realm and passed as `common`; call it with the
/// host object.
pub(crate) fn realm_prelude<'js>(
    ctx: &Ctx<'js>,
    name: &'static str,
    prelude: &str,
) -> rquickjs::Result<Function<'js>> {
    let cached = PRELUDE_BYTECODE.with(|c| c.borrow().get(name).cloned());
    let bytes = match cached {
        Some(b) => b,
        None => {
            let src = format!(
                "export default function (host) {{ return ({})(host, ({})(host)); }}",
                prelude.trim().trim_end_matches(';'),
                REALM_COMMON_JS.trim().trim_end_matches(';')
            );
            let module = Module::declare(ctx.clone(), name, src)?;
            let bytes = Rc::new(module.write(rquickjs::WriteOptions {
                strip_debug: true,
                strip_source: true,
                ..rquickjs::WriteOptions::default()
            })?);
            PRELUDE_BYTECODE.with(|c| c.borrow_mut().insert(name, bytes.clone()));
            bytes
        }
    };
    let module = load_bytecode(ctx, &bytes)?;
    let (module, _) = module.eval()?;
    module.get("default")
}

#[allow(
    unsafe_code,
    reason = "rquickjs only loads module bytecode through an unsafe fn"
)]
fn load_bytecode<'js>(
    ctx: &Ctx<'js>,
    bytes: &[u8],
) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
    // SAFETY: the bytes were produced by `Module::write` from the prelude source by this same
    // binary (same QuickJS version and build) on this thread, and are never modified.
    unsafe { Module::load(ctx.clone(), bytes) }
}

fn assemble<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    input: Option<String>,
    configuration: Option<String>,
    default_state: Option<String>,
    opts: &StepJsOptions,
) -> rquickjs::Result<Value<'js>> {
    let parse = |t: Option<&str>| -> rquickjs::Result<Value<'js>> {
        match t {
            Some(t) => ctx.json_parse(t),
            None => Ok(Value::new_undefined(ctx.clone())),
        }
    };
    let f: Function<'_> = kit.get("assemble")?;
    let prev = match input {
        Some(t) => rquickjs::String::from_str(ctx.clone(), &t)?.into_value(),
        None => Value::new_undefined(ctx.clone()),
    };
    f.call((
        prev,
        parse(configuration.as_deref())?,
        parse(default_state.as_deref())?,
        parse(opts.credentials.as_deref())?,
    ))
}

async fn build_globals<'js>(ctx: &Ctx<'js>, opts: &StepJsOptions) -> rquickjs::Result<Object<'js>> {
    let globals = Object::new(ctx.clone())?;
    if let Some(g) = &opts.globals {
        let v: Value<'_> = ctx.json_parse(g.as_str())?;
        if let Some(o) = v.as_object() {
            for k in o.keys::<String>() {
                let k = k?;
                globals.set(k.as_str(), o.get::<_, Value<'_>>(k.as_str())?)?;
            }
        }
    }
    if let Some(src) = &opts.workflow_globals {
        let module = Module::declare(ctx.clone(), "vm:globals", src.as_str())?;
        let (module, promise) = module.eval()?;
        promise.into_future::<()>().await?;
        let ns = module.namespace()?;
        for k in ns.keys::<String>() {
            let k = k?;
            globals.set(k.as_str(), ns.get::<_, Value<'_>>(k.as_str())?)?;
        }
    }
    Ok(globals)
}

async fn run_module<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    expression: &str,
    state: Value<'js>,
    opts: &StepJsOptions,
) -> rquickjs::Result<Value<'js>> {
    let module = Module::declare(ctx.clone(), JOB_MODULE, expression)?;
    let (module, promise) = module.eval()?;
    promise.into_future::<()>().await?;
    let ns = module.namespace()?;
    let run: Function<'_> = kit.get("runOperations")?;
    let js_opts = Object::new(ctx.clone())?;
    js_opts.set("immutableState", opts.immutable)?;
    let p: Promise<'_> = run.call((ns, state, js_opts))?;
    p.into_future::<Value<'_>>().await
}

fn finalize<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    value: &Value<'js>,
    opts: &StepJsOptions,
    error: Option<RtError>,
) -> StepOutcome {
    let out = (|| -> rquickjs::Result<(Option<String>, Vec<String>)> {
        let f: Function<'_> = kit.get("finalize")?;
        let res: Object<'_> = f.call((value.clone(), opts.remove.clone()))?;
        let text: Option<String> = res.get("text")?;
        let removed: Vec<String> = res.get("removed")?;
        Ok((text, removed))
    })();
    match out {
        Ok((text, removed)) => {
            if let Some(t) = &text
                && t.len() > opts.limit_bytes
            {
                return StepOutcome::Failed {
                    state: None,
                    removed,
                    error: Box::new(RtError::state_too_large(opts.limit_mb)),
                };
            }
            match error {
                Some(error) => StepOutcome::Failed {
                    state: text,
                    removed,
                    error: Box::new(error),
                },
                None => StepOutcome::Done {
                    state: text,
                    removed,
                },
            }
        }
        Err(e) => {
            let msg = describe_engine_error(ctx, e);
            match error {
                Some(error) => StepOutcome::Failed {
                    state: None,
                    removed: vec![],
                    error: Box::new(error),
                },
                None => StepOutcome::Failed {
                    state: None,
                    removed: vec![],
                    error: Box::new(RtError::new("JobError", Severity::Fail, msg)),
                },
            }
        }
    }
}

/// Classify whatever was thrown (§2.7).
fn classify<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    e: rquickjs::Error,
    prefix: Option<&str>,
    source: &str,
    null_is_oom: bool,
) -> RtError {
    let thrown = if e.is_exception() {
        let exc = ctx.catch();
        describe(ctx, kit, exc)
    } else {
        Thrown {
            kind: "value".into(),
            message: e.to_string(),
            ..Default::default()
        }
    };
    // QuickJS throws `null` when it cannot even allocate the error object, and describing an
    // error fails when the heap is still full: under a memory limit both mean out of memory.
    // Likewise an InternalError whose message could not be allocated.
    let bare_internal = thrown.ctor.as_deref() == Some("InternalError")
        && (thrown.message.is_empty() || thrown.message == "out of memory");
    if (thrown.kind == "null" || thrown.kind == UNDESCRIBABLE || bare_internal) && null_is_oom {
        return RtError::oom();
    }
    let mut error = classify_thrown(thrown, source);
    if let Some(p) = prefix {
        error.message = format!("{p}{}", error.message);
    }
    error
}

fn describe<'js>(ctx: &Ctx<'js>, kit: &Object<'js>, exc: Value<'js>) -> Thrown {
    let d = (|| -> rquickjs::Result<Option<String>> {
        let f: Function<'_> = kit.get("describeError")?;
        let d: Value<'_> = f.call((exc,))?;
        ctx.json_stringify(d)?.map(|s| s.to_string()).transpose()
    })();
    match d {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|_| Thrown::undescribable()),
        _ => {
            let _ = ctx.catch();
            Thrown::undescribable()
        }
    }
}

fn classify_thrown(t: Thrown, source: &str) -> RtError {
    match t.kind.as_str() {
        "adaptor" => {
            let mut e = RtError::new("AdaptorError", Severity::Fail, t.message.clone());
            e.details = t.details;
            e.line = Some(-1);
            e.operation_name = Some(String::new());
            if t.map_to_operation == Some(true) {
                e.operation_index = t.index;
            } else {
                e.pos = t.stack.as_deref().and_then(vm_position);
            }
            e.stack = t.stack;
            e
        }
        "crash" => {
            let subtype = t.subtype.unwrap_or_else(|| "Error".into());
            let mut e = RtError::new(
                "RuntimeCrash",
                Severity::Crash,
                format!("{subtype}: {}", t.message),
            );
            e.subtype = Some(subtype);
            e.fix = t.fix;
            e
        }
        "error" => {
            let ctor = t.ctor.clone().unwrap_or_default();
            let raw_message = t.message.clone();
            let at = t.stack.as_deref().and_then(vm_position);
            let line = at
                .as_ref()
                .and_then(|p| source.split('\n').nth(p.line.saturating_sub(1) as usize));
            let message = translate_at(
                &ctor,
                &raw_message,
                line,
                at.as_ref().map_or(0, |p| p.column),
            );
            let stack = t
                .stack
                .clone()
                .map(|s| replace_header(&s, &ctor, &raw_message, &message));
            if t.name.as_deref() == Some("ImportError") {
                return RtError::import(message);
            }
            if ctor == "TypeError" || ctor == "RangeError" {
                let mut e =
                    RtError::new("RuntimeError", Severity::Fail, format!("{ctor}: {message}"));
                e.subtype = Some(ctor);
                e.pos = stack.as_deref().and_then(position_of);
                e.stack = stack.as_deref().map(vm_stack);
                // QuickJS' position in the job → the one V8 gives (positions.rs), in the
                // position and in the stack's first frame
                if let (Some(pos), Some(at)) = (e.pos.as_mut(), at.as_ref())
                    && (at.line, at.column) == (pos.line, pos.column)
                    && let Some(column) =
                        crate::positions::v8_column(source, pos.line, pos.column, &message)
                {
                    let (from, to) = (
                        format!("vm:module(0):{}:{}", pos.line, pos.column),
                        format!("vm:module(0):{}:{column}", pos.line),
                    );
                    e.stack = e.stack.map(|s| s.replacen(&from, &to, 1));
                    pos.column = column;
                }
                return e;
            }
            if t.severity.as_deref() == Some("crash")
                || ctor == "ReferenceError"
                || ctor == "SyntaxError"
            {
                let mut e = RtError::new(
                    "RuntimeCrash",
                    Severity::Crash,
                    format!("{ctor}: {message}"),
                );
                e.subtype = Some(ctor);
                e.pos = stack.as_deref().and_then(position_of);
                e.stack = stack.as_deref().map(vm_stack);
                e.fix = t.fix;
                e.details = t.details;
                return e;
            }
            if ctor == "EvalError" {
                return RtError::security();
            }
            if ctor == "InternalError" && raw_message == "out of memory" {
                return RtError::oom();
            }
            RtError::new("JobError", Severity::Fail, message)
        }
        _ => RtError::new("JobError", Severity::Fail, t.message),
    }
}

/// Position of the first `vm:module(0)` frame.
fn vm_position(stack: &str) -> Option<Position> {
    stack
        .split('\n')
        .skip(1)
        .filter(|f| f.contains("vm:module(0)"))
        .find_map(frame_position)
        .map(|(line, column)| Position {
            line,
            column,
            src: None,
        })
}

/// First frame with a `line:col` (kit `extractPosition`).
fn position_of(stack: &str) -> Option<Position> {
    stack
        .split('\n')
        .skip(1)
        .find_map(frame_position)
        .map(|(line, column)| Position {
            line,
            column,
            src: None,
        })
}

/// Keep the message and the leading `vm:module` frames (kit `extractStackTrace`).
fn vm_stack(stack: &str) -> String {
    let mut lines = stack.split('\n');
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    for frame in lines {
        if frame.contains("vm:module") {
            out.push(frame);
        } else {
            break;
        }
    }
    out.join("\n")
}

fn replace_header(stack: &str, ctor: &str, message: &str, translated: &str) -> String {
    if translated == message {
        return stack.to_string();
    }
    match stack.split_once('\n') {
        Some((_, rest)) => format!("{ctor}: {translated}\n{rest}"),
        None => format!("{ctor}: {translated}"),
    }
}

/// Text for a non-JS-classifiable engine error (catching the pending exception).
fn describe_engine_error(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if e.is_exception() {
        let v = ctx.catch();
        if let Some(o) = v.as_object() {
            let msg: Option<String> = o.get("message").ok();
            if let Some(m) = msg {
                return m;
            }
        }
        if let Some(s) = v.as_string() {
            return s.to_string().unwrap_or_default();
        }
        return "unknown error".into();
    }
    e.to_string()
}

/// CJS/ESM export shaping of §2.10.
fn shape_exports<'js>(ctx: &Ctx<'js>, ns: Object<'js>) -> rquickjs::Result<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    let keys: Vec<String> = ns.keys::<String>().collect::<rquickjs::Result<_>>()?;
    let default: Option<Object<'_>> = ns.get::<_, Value<'_>>("default")?.into_object();
    let mut source = ns.clone();
    if let Some(d) = &default {
        let esm_flag: bool = d
            .get::<_, Value<'_>>("__esModule")?
            .as_bool()
            .unwrap_or(false);
        let dd: Option<Object<'_>> = d.get::<_, Value<'_>>("default")?.into_object();
        if esm_flag && let Some(dd) = dd {
            source = dd;
        } else if keys.len() == 1
            && keys[0] == "default"
            && d.keys::<String>().next().is_some()
            && !d.is_function()
        {
            source = d.clone();
        }
    }
    for k in source.keys::<String>() {
        let k = k?;
        out.set(k.as_str(), source.get::<_, Value<'_>>(k.as_str())?)?;
    }
    if source == ns {
        return Ok(out);
    }
    Ok(out)
}

/// Module specifiers of static `import … from "x"`, `export … from "x"` and `import "x"`
/// statements (a cheap scan used to load adaptors before the job module links; anything it
/// misses is still loaded on demand).
fn imported_specifiers(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in source.lines() {
        let t = line.trim_start();
        if !(t.starts_with("import") || t.starts_with("export")) {
            continue;
        }
        let rest = match t.rfind(" from ") {
            Some(i) => &t[i + 6..],
            None if t.starts_with("import ")
                || t.starts_with("import\"")
                || t.starts_with("import'") =>
            {
                t.trim_start_matches("import")
            }
            None => continue,
        };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = rest[1..].find(quote) {
            let spec = rest[1..1 + end].to_string();
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}

fn is_truthy_json(text: &str) -> bool {
    !matches!(text.trim(), "" | "null" | "false" | "0" | "\"\"")
}

/// Bytes the process's allocator has handed out and not had back (glibc `mallinfo2`: small
/// blocks in use plus mmapped blocks): the QuickJS heap and the host's own, as Node's
/// `heapUsed` counts the JS heap. Cheap (it reads arena counters), unlike walking the QuickJS
/// heap, which costs ~0.5 ms on a small heap and grows with the number of objects. `None`
/// where glibc is not the allocator.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "mallinfo2 is a libc call with no safe wrapper")]
fn heap_in_use() -> Option<u64> {
    // SAFETY: mallinfo2 takes no arguments, only reads the allocator's statistics and returns
    // them by value; it is thread-safe in glibc (it locks each arena while reading it).
    let info = unsafe { libc::mallinfo2() };
    u64::try_from(info.uordblks + info.hblkhd).ok()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_in_use() -> Option<u64> {
    None
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Reset the process's peak resident set size to its current size (Linux `clear_refs` 5), so
/// that [`peak_rss_bytes`] measures from here. Best effort: without it the peak is the
/// process's high-water mark.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// The kit's caret line: as many spaces as the source line has characters, with `^` at the
/// 1-based `column` (after the spaces when the column is past the end; none for column 0).
fn caret_line(src: &str, column: u32) -> String {
    let mut pointer = vec![' '; src.encode_utf16().count()];
    match (column as usize).checked_sub(1) {
        Some(at) if at < pointer.len() => pointer[at] = '^',
        Some(_) => pointer.push('^'),
        None => {}
    }
    pointer.into_iter().collect()
}
