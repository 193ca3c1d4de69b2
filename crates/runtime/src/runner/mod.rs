//! The plan loop and step execution (docs/execution.md §2.3–§2.8): one QuickJS runtime per run, a
//! fresh job context per step, one adaptor context per run, a console-only context for edge
//! conditions, limits enforced through the interrupt handler and the memory limit.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::{AsyncContext, AsyncRuntime, Coerced, Function, Persistent, Value};
use serde_json::{Value as Json, json};

use crate::error::{RtError, RunError, Severity};
use crate::events::{Callbacks, Event, StateJson};
use crate::linker::{Linker, LinkerData};
use crate::plan::{CompiledPlan, CompiledStep, Edge, compile};
use openfn_lexicon::log::{Level, LogLine, names};
use openfn_lexicon::plan::ExecutionPlan;

mod adaptors;
mod classify;
mod memory;
mod options;
mod prepared;
mod realm;
mod step;

pub use memory::{peak_rss_bytes, reset_peak_rss, rss_bytes};
pub use options::{Input, Outcome, RunOptions};
pub(crate) use options::{Limits, LogSink};
pub use prepared::{Prepared, run_prepared};

use classify::describe_engine_error;
use realm::CONDITION_REALM_JS;
pub(crate) use realm::{host_object, realm_prelude};

/// Run a plan. Crash and kill severity errors reject (`RunError::Aborted`); fail errors are
/// written to `state.errors[stepId]` and the workflow goes on.
pub async fn run<C: Callbacks + 'static>(
    plan: &ExecutionPlan,
    input: Input,
    options: RunOptions,
    callbacks: Rc<C>,
) -> Result<Outcome, RunError> {
    let compiled = validate(plan, &options, callbacks.as_ref())?;
    let mut runner = Runner::new(compiled, options, callbacks).await?;
    let result = runner.run_plan(input).await;
    if runner.options.skip_teardown {
        // the process is about to exit: its memory goes back to the OS in one piece
        std::mem::forget(runner);
        return result;
    }
    runner.shutdown().await;
    result
}

/// Validates the plan (logging as the kit does when it is invalid) and logs `Executing …`.
fn validate<C: Callbacks>(
    plan: &ExecutionPlan,
    options: &RunOptions,
    callbacks: &C,
) -> Result<CompiledPlan, RunError> {
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
    // as the kit: `Executing ${plan.workflow.name || plan.id}`
    let label = [&plan.workflow.name, &plan.id]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .map_or("undefined", String::as_str);
    rt_line(Level::Info, Json::String(format!("Executing {label}")));
    Ok(compiled)
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
    warm_job: Rc<std::cell::RefCell<Option<prepared::WarmRealm>>>,
}

/// The heap size of a run's first garbage collection. QuickJS starts at 256 KiB and grows
/// the threshold by half after each collection, so loading an adaptor tree (some 10 MB of
/// mostly live objects) collected a dozen times for almost nothing; the first collection
/// waits for 16 MiB, or a quarter of the run's memory limit when that is smaller.
fn gc_threshold(memory_limit_mb: Option<u64>) -> usize {
    const FIRST: usize = 16 << 20;
    memory_limit_mb
        .map(|mb| usize::try_from(mb.saturating_mul(1 << 20) / 4).unwrap_or(FIRST))
        .map_or(FIRST, |quarter| quarter.min(FIRST))
}

impl<C: Callbacks + 'static> Runner<C> {
    async fn new(
        plan: CompiledPlan,
        options: RunOptions,
        callbacks: Rc<C>,
    ) -> Result<Self, RunError> {
        let parts = prepared::Parts::fresh(&options).await?;
        Self::assemble(plan, options, callbacks, parts).await
    }

    /// A runner on `parts` (a fresh runtime, or one prepared with adaptors loaded) with this
    /// run's limits and log.
    async fn assemble(
        plan: CompiledPlan,
        options: RunOptions,
        callbacks: Rc<C>,
        parts: prepared::Parts,
    ) -> Result<Self, RunError> {
        let prepared::Parts {
            rt,
            linker,
            limits,
            adaptor_ctx,
            failed_loads,
            warm_job,
        } = parts;
        if let Some(mb) = options.memory_limit_mb {
            rt.set_memory_limit((mb as usize) * 1024 * 1024).await;
        }
        rt.set_gc_threshold(gc_threshold(options.memory_limit_mb))
            .await;
        rt.set_max_stack_size(options.max_stack_size).await;
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
            adaptor_ctx,
            cond_ctx: None,
            conditions: BTreeMap::new(),
            log,
            run_deadline,
            failed_loads,
            warm_job,
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
        self.rt_log(
            Level::Debug,
            format!("Starting execution from step {}", self.plan.start),
        );
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
            // as the kit: a leaf is a step after which nothing runs (no edge, or none taken)
            if let Some(r) = &result
                && (is_end || next.is_empty())
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
                        realm_prelude(&ctx, realm::CONDITION_REALM_PRELUDE, CONDITION_REALM_JS)?;
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
                        // in V8's words, as the kit's runtime reports it
                        Err(msg) => {
                            let msg = crate::messages::translate("", &msg);
                            return Err(RtError::edge_condition(msg).into());
                        }
                    }
                }
            }
        }
        Ok(next)
    }
}

fn is_truthy_json(text: &str) -> bool {
    !matches!(text.trim(), "" | "null" | "false" | "0" | "\"\"")
}
