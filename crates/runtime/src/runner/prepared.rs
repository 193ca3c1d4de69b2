//! "Prepare adaptors, then run a plan in the prepared runtime": [`Prepared::new`] makes a
//! QuickJS runtime, creates its adaptor realm and evaluates a set of adaptor modules in it
//! (nothing of any job seen); [`run_prepared`] then runs one plan in that runtime, with the
//! run's own limits, log and callbacks, reusing the loaded modules. The engine's templates
//! prepare once and fork: every run starts from the same pristine prepared runtime.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use rquickjs::{AsyncContext, AsyncRuntime, Object, Persistent};

use crate::error::{RtError, RunError};
use crate::events::{Callbacks, NoCallbacks};
use crate::linker::{Linker, Pending, RunLoader, RunResolver};
use crate::plan::CompiledPlan;
use openfn_lexicon::log::LogLine;
use openfn_lexicon::plan::{ExecutionPlan, ModuleInfo};

use super::{Input, Limits, LogSink, Outcome, RunOptions, Runner, validate};

/// The parts of a runner that outlive one plan: the QuickJS runtime with its interrupt
/// handler and loader, the linker (with the loaded adaptors) and the adaptor realm. Cloning
/// shares them (handles, not copies).
#[derive(Clone)]
pub(super) struct Parts {
    pub rt: AsyncRuntime,
    pub linker: Rc<Linker>,
    pub limits: Rc<Limits>,
    pub adaptor_ctx: Option<AsyncContext>,
    pub failed_loads: HashMap<PathBuf, RtError>,
    /// A job realm set up ahead (a template's): the first step attempt takes it.
    pub warm_job: Rc<RefCell<Option<WarmRealm>>>,
}

/// A job realm created and set up (its prelude run) before any job was seen: the context
/// and the kit object the prelude returned.
pub(super) struct WarmRealm {
    pub ctx: AsyncContext,
    pub kit: Persistent<Object<'static>>,
}

impl Parts {
    /// A fresh runtime: the interrupt handler (timeouts, the out-of-memory latch) and the
    /// module loader installed; no limits yet, no realm.
    pub async fn fresh(options: &RunOptions) -> Result<Self, RunError> {
        let rt = AsyncRuntime::new()?;
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
        Ok(Parts {
            rt,
            linker,
            limits,
            adaptor_ctx: None,
            failed_loads: HashMap::new(),
            warm_job: Rc::default(),
        })
    }
}

/// A QuickJS runtime with an adaptor set evaluated in its adaptor realm.
pub struct Prepared {
    parts: Parts,
    /// Where the adaptor realm's console lines go: nowhere while preparing, the run's log
    /// during the run.
    log: Rc<RefCell<Option<LogSink>>>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("loaded", &self.parts.linker.loaded.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// Evaluates each of `modules` (name → path/version) in a new runtime's adaptor realm,
    /// as a step linking them would. `options` must be those of the later runs as far as the
    /// adaptor host, the whitelist and the repo go. What the adaptors log while they load is
    /// dropped (see [`Prepared::with_log`]).
    pub async fn new(
        options: &RunOptions,
        modules: BTreeMap<String, ModuleInfo>,
    ) -> Result<Self, RunError> {
        Self::with_log(options, modules, |_| {}).await
    }

    /// [`Prepared::new`], with the lines the adaptor realm logs while the modules load (an
    /// adaptor's top-level `console` calls) given to `log`: they belong to no run. Runs log
    /// to their own callbacks.
    pub async fn with_log(
        options: &RunOptions,
        modules: BTreeMap<String, ModuleInfo>,
        log: impl Fn(LogLine) + 'static,
    ) -> Result<Self, RunError> {
        let preparing: LogSink = Rc::new(log);
        let slot: Rc<RefCell<Option<LogSink>>> = Rc::new(RefCell::new(Some(preparing)));
        let forward = slot.clone();
        let empty = CompiledPlan {
            steps: HashMap::new(),
            start: String::new(),
            end: None,
            timeout: None,
            globals: None,
            credentials: None,
        };
        let unlimited = RunOptions {
            memory_limit_mb: None,
            run_timeout_ms: None,
            ..options.clone()
        };
        let parts = Parts::fresh(&unlimited).await?;
        let mut runner = Runner::assemble(empty, unlimited, Rc::new(NoCallbacks), parts).await?;
        runner.log = Rc::new(move |line: LogLine| {
            if let Some(log) = forward.borrow().as_ref() {
                log(line);
            }
        });
        *runner.linker.modules.borrow_mut() = modules.clone();
        for spec in modules.keys() {
            let entry = runner.linker.entry_for(spec).map_err(|e| *e)?;
            runner
                .load_adaptor(&Pending {
                    spec: spec.clone(),
                    entry,
                })
                .await?;
        }
        // The job and condition realm preludes compiled now, once, rather than in every run
        // forked from this runtime (a scratch context: nothing of them is evaluated).
        let scratch = AsyncContext::full(&runner.rt).await?;
        scratch
            .async_with(async |ctx| super::realm::warm_preludes(&ctx))
            .await?;
        drop(scratch);
        // The first step's job realm, set up now: a run forked from this runtime starts its
        // first step without creating a realm (its host object logs through the run's log).
        let ctx = AsyncContext::full(&runner.rt).await?;
        let (log, limits) = (runner.log.clone(), runner.limits.clone());
        let kit = ctx
            .async_with(
                async |ctx| -> rquickjs::Result<Persistent<Object<'static>>> {
                    let kit = super::realm::setup_kit(&ctx, log, limits)?;
                    Ok(Persistent::save(&ctx, kit))
                },
            )
            .await?;
        *runner.warm_job.borrow_mut() = Some(WarmRealm { ctx, kit });
        // What the linker said while the template loaded is not any run's: each run's steps
        // announce their adaptors themselves (once per step, as the kit's linker does).
        runner.linker.resolved_logs.borrow_mut().clear();
        runner.linker.begin_step();
        *slot.borrow_mut() = None;
        let Runner {
            rt,
            linker,
            limits,
            adaptor_ctx,
            failed_loads,
            warm_job,
            ..
        } = runner;
        Ok(Prepared {
            parts: Parts {
                rt,
                linker,
                limits,
                adaptor_ctx,
                failed_loads,
                warm_job,
            },
            log: slot,
        })
    }

    /// How many adaptor modules are loaded.
    pub fn loaded(&self) -> usize {
        self.parts.linker.loaded.borrow().len()
    }
}

/// Runs `plan` in a prepared runtime. One run per prepared runtime: the run changes it (each
/// process forked from a template runs in its own copy). Same semantics as [`super::run`].
pub async fn run_prepared<C: Callbacks + 'static>(
    prepared: &Prepared,
    plan: &ExecutionPlan,
    input: Input,
    options: RunOptions,
    callbacks: Rc<C>,
) -> Result<Outcome, RunError> {
    let compiled = validate(plan, &options, callbacks.as_ref())?;
    let mut runner = Runner::assemble(compiled, options, callbacks, prepared.parts.clone()).await?;
    *prepared.log.borrow_mut() = Some(runner.log.clone());
    let result = runner.run_plan(input).await;
    runner.shutdown().await;
    result
}
