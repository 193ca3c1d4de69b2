//! One step of the plan: its attempts, the adaptor loads it waits for, its report and memory.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rquickjs::AsyncContext;
use serde_json::Value as Json;

use crate::adaptor_stack::AdaptorSources;
use crate::deep_json;
use crate::error::{RtError, RunError, Severity};
use crate::events::{Callbacks, Event, MemoryUse, StateJson};
use crate::linker::Pending;
use crate::plan::{CompiledStep, merge_modules};
use crate::sourcemap::map_error;
use openfn_lexicon::log::{Level, LogLine, names, print_duration};
use openfn_lexicon::plan::Lazy;

use super::Runner;
use super::classify::caret_line;
use super::memory::{heap_in_use, peak_rss_bytes, reset_peak_rss, rss_bytes};
use super::realm::{StepJsOptions, StepOutcome, imported_specifiers, step_in_context};

/// How a step attempt ended.
pub(super) enum Attempt {
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

impl<C: Callbacks + 'static> Runner<C> {
    /// Run one step; returns its output state and the ids to queue next.
    pub(super) async fn execute_step(
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
        let (config_json, default_json) = self.resolve_inputs(step).await?;
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

        let timeout_ms = self.plan.timeout.or(self.options.default_run_timeout_ms);
        self.preload_adaptors(step, &expression, timeout_ms).await?;

        let attempt = self
            .attempt_until_loaded(
                &expression,
                input.as_ref(),
                config_json.as_deref(),
                default_json.as_deref(),
                timeout_ms,
            )
            .await?;
        let duration = job_start.elapsed();
        match attempt {
            Attempt::Done { state, removed } => {
                self.finish_done(step, &name, state, &removed, duration, init_start)
                    .await
            }
            Attempt::Failed {
                state,
                removed,
                error,
            } => {
                self.finish_failed(step, &name, state, &removed, *error, duration)
                    .await
            }
            Attempt::NeedAdaptors(_) => Ok((None, Vec::new())),
        }
    }

    /// Resolve the step's credential and default state (ids through the callbacks), as JSON text.
    async fn resolve_inputs(
        &self,
        step: &CompiledStep,
    ) -> Result<(Option<String>, Option<String>), RunError> {
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
        Ok((
            configuration.map(|v| v.to_string()),
            default_state.map(|v| v.to_string()),
        ))
    }

    /// Point the linker at the step's modules, arm the step's deadline and load the adaptors the
    /// job imports before its module links (a kill-severity load failure ends the run).
    async fn preload_adaptors(
        &mut self,
        step: &CompiledStep,
        expression: &str,
        timeout_ms: Option<u64>,
    ) -> Result<(), RunError> {
        *self.linker.modules.borrow_mut() = merge_modules(&self.options.modules, &step.linker);
        self.linker.begin_step();
        let mut preload: Vec<String> = step.linker.keys().cloned().collect();
        for spec in imported_specifiers(expression) {
            if spec != "@openfn/runtime" && self.linker.allowed(&spec) && !preload.contains(&spec) {
                preload.push(spec);
            }
        }
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
        Ok(())
    }

    /// Attempt the step, loading the adaptors an attempt asked for and trying again (at most 16
    /// attempts).
    async fn attempt_until_loaded(
        &mut self,
        expression: &str,
        input: Option<&StateJson>,
        config_json: Option<&str>,
        default_json: Option<&str>,
        timeout_ms: Option<u64>,
    ) -> Result<Attempt, RunError> {
        let mut attempts = 0;
        let attempt = loop {
            attempts += 1;
            let a = self
                .attempt_step(expression, input, config_json, default_json, timeout_ms)
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
        Ok(attempt)
    }

    /// A step that completed: log, measure, route and notify `job-complete`.
    async fn finish_done(
        &mut self,
        step: &CompiledStep,
        name: &str,
        state: Option<String>,
        removed: &[String],
        duration: Duration,
        init_start: Instant,
    ) -> Result<(Option<StateJson>, Vec<String>), RunError> {
        let job_id = step.id.clone();
        self.rt_log(
            Level::Success,
            format!("{name} completed in {}", print_duration(duration)),
        );
        // as the kit: the clean-up is logged after the step's completion
        self.log_removed(removed);
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

    /// A step that failed: map the error to the source, report it in state, route (unless it
    /// aborts the run) and notify `job-error`.
    async fn finish_failed(
        &mut self,
        step: &CompiledStep,
        name: &str,
        state: Option<String>,
        removed: &[String],
        mut error: RtError,
        duration: Duration,
    ) -> Result<(Option<StateJson>, Vec<String>), RunError> {
        let job_id = step.id.clone();
        self.rt_log(
            Level::Error,
            format!("{name} aborted with error ({})", print_duration(duration)),
        );
        self.log_removed(removed);
        let roots = self.options.repo.iter().cloned().chain(
            self.options
                .modules
                .values()
                .chain(step.linker.values())
                .filter_map(|m| m.path.as_ref().map(PathBuf::from)),
        );
        let mut sources = AdaptorSources::new(roots, self.options.adaptor_host.clone());
        if let Some(key) = &self.options.adaptor_cache_key {
            let entries = self.linker.loaded.borrow().keys().cloned().collect();
            sources = sources.with_cache_key(entries, key.clone());
        }
        crate::adaptor_stack::kit_error(&mut error, &sources);
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
            map_error(&mut error, map, name);
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

    pub(super) fn log_removed(&self, removed: &[String]) {
        if !removed.is_empty() {
            self.rt_log(
                Level::Debug,
                format!("Cleaning up state. Removing keys: {}", removed.join(", ")),
            );
        }
    }

    pub(super) fn flush_linker_logs(&self) {
        let lines: Vec<(Level, String)> =
            self.linker.resolved_logs.borrow_mut().drain(..).collect();
        for (level, line) in lines {
            self.rt_log(level, line);
        }
    }

    /// Log the error report and write fail errors to `state.errors[stepId]`.
    pub(super) fn report(
        &self,
        state: Option<String>,
        job_id: &str,
        error: &RtError,
    ) -> Option<StateJson> {
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

    pub(super) async fn memory(&self) -> MemoryUse {
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

    pub(super) fn arm_deadline(&self, timeout_ms: Option<u64>) -> Option<(Instant, Option<u64>)> {
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

    /// The repo and the step's module paths (the linker's, set when the step starts).
    fn adaptor_roots(&self) -> Vec<PathBuf> {
        let modules = self.linker.modules.borrow();
        let paths = modules
            .values()
            .filter_map(|m| m.path.as_ref().map(PathBuf::from));
        self.options.repo.iter().cloned().chain(paths).collect()
    }

    pub(super) async fn attempt_step(
        &mut self,
        expression: &str,
        input: Option<&StateJson>,
        configuration: Option<&str>,
        default_state: Option<&str>,
        timeout_ms: Option<u64>,
    ) -> Result<Attempt, RunError> {
        // A realm set up ahead (a template's) serves the first attempt; others get a new one.
        let warm = self.warm_job.borrow_mut().take();
        let (ctx, kit) = match warm {
            Some(warm) => (warm.ctx, Some(warm.kit)),
            None => (AsyncContext::full(&self.rt).await?, None),
        };
        let deadline = self.arm_deadline(timeout_ms);
        let log = self.log.clone();
        let limits = self.limits.clone();
        let linker = self.linker.clone();
        let opts = self.step_options(timeout_ms);
        linker.pending.borrow_mut().clear();
        *linker.import_error.borrow_mut() = None;
        let input_text = input.cloned();
        let config = configuration.map(str::to_string);
        let defaults = default_state.map(str::to_string);
        let expression = expression.to_string();
        let work = ctx.async_with(async move |ctx| {
            step_in_context(
                &ctx,
                kit,
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
                match openfn_node_host::timers::timeout(wait, work).await {
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
        self.settle(outcome, deadline.and_then(|d| d.1))
    }

    /// The step's options for its JS side (state handling, limits, globals, console).
    fn step_options(&self, timeout_ms: Option<u64>) -> StepJsOptions {
        StepJsOptions {
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
            timeout_ms,
            console_text: self.options.console_text,
            adaptor_roots: if self.options.console_text {
                self.adaptor_roots()
            } else {
                Vec::new()
            },
            adaptor_host: self.options.adaptor_host.clone(),
        }
    }

    /// What an attempt came to once its context is gone: the run's limits first (OOM, timeout:
    /// `timeout_ms` is the one that was armed), then the step's own outcome; a step that failed
    /// with adaptors still to load asks for them.
    fn settle(
        &mut self,
        outcome: StepOutcome,
        timeout_ms: Option<u64>,
    ) -> Result<Attempt, RunError> {
        if self.limits.oom.get() {
            return Err(RtError::oom().into());
        }
        if self.limits.timed_out.get() {
            let ms = timeout_ms.unwrap_or(0);
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
}
