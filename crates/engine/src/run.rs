//! One run, driven by the supervisor: resolve the input, autoinstall adaptors, pre-load
//! credentials, then dispatch to a pooled child and translate its frames into engine events,
//! enforcing the run timeout and the memory watchdog, and reporting a dead child.
//!
//! Nothing here parses a state: inputs, credentials and outputs pass through as raw JSON.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::{EngineConfig, RunOptions, mb_to_bytes};
use crate::event::{EngineEvent, EngineFailure, LogLine, now_ns};
use crate::install::{AdaptorInstaller, split_specifier};
use crate::ipc::{ChildEvent, Frame, ResolveKind, RunSettings, ToChild, ToParent};
use crate::plan::{self, PlanJson};
use crate::pool::{ChildProc, Pool, exit_code};
use crate::resolve::{Input, Resolvers};
use crate::sys;
use crate::template::{TemplateSpec, Templates};

/// How often a busy child's resident memory is checked.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(20);

/// Resident memory a child may use above its idle size: 1.5 × the run's limit plus 64 MB for
/// the compiler, serialised states and the allocator's slack. Past it the child is killed.
fn rss_ceiling(idle_rss: u64, memory_limit_mb: u64) -> u64 {
    idle_rss + memory_limit_mb.saturating_mul(3 << 19) + (64 << 20)
}

/// Engine-wide state shared by every run.
pub(crate) struct Shared {
    pub config: EngineConfig,
    pub pool: Pool,
    pub installer: Arc<dyn AdaptorInstaller>,
    pub install_lock: tokio::sync::Mutex<()>,
    pub templates: Arc<Templates>,
    /// Becomes true on `destroy(instant = true)`: busy children are killed.
    pub kill_all: watch::Receiver<bool>,
}

/// Sends events of one run; the stream ends right after the terminal event.
struct Out {
    workflow_id: String,
    tx: Option<mpsc::UnboundedSender<EngineEvent>>,
}

impl Out {
    fn emit(&mut self, event: EngineEvent) {
        let terminal = event.is_terminal();
        if let Some(tx) = &self.tx
            && tx.send(event).is_err()
        {
            self.tx = None;
        }
        if terminal {
            self.tx = None;
        }
    }

    fn is_open(&self) -> bool {
        self.tx.is_some()
    }

    fn fail(&mut self, failure: EngineFailure, thread_id: Option<u32>) {
        if self.is_open() {
            let error = failure.to_error();
            tracing::debug!(workflow_id = %self.workflow_id, "run failed: {} {}", error.error_type, error.message);
            self.emit(EngineEvent::WorkflowError {
                workflow_id: self.workflow_id.clone(),
                thread_id,
                error,
            });
        }
    }

    fn rte_log(&mut self, text: String) {
        let message = RawValue::from_string(Value::Array(vec![Value::String(text)]).to_string());
        if let Ok(message) = message {
            let log = LogLine {
                level: "info".into(),
                name: "RTE".into(),
                message,
                time: now_ns().to_string(),
                redacted: false,
            };
            self.emit(EngineEvent::WorkflowLog {
                workflow_id: self.workflow_id.clone(),
                thread_id: None,
                log,
            });
        }
    }
}

/// Everything a run needs, as given to `Engine::execute`.
pub(crate) struct RunSpec {
    pub workflow_id: String,
    pub plan: PlanJson,
    pub input: Input,
    pub options: RunOptions,
    pub resolvers: Arc<dyn Resolvers>,
}

fn settings(config: &EngineConfig, workflow_id: &str, options: &RunOptions) -> RunSettings {
    let memory_limit_mb = options.memory_limit_mb.unwrap_or(config.memory_limit_mb);
    let payload_limit_mb = options
        .payload_limit_mb
        .map(|mb| mb as f64)
        .unwrap_or(config.payload_limit_mb);
    let log_limit_mb = options
        .log_payload_limit_mb
        .map(|mb| mb as f64)
        .or(config.log_payload_limit_mb)
        .unwrap_or(payload_limit_mb);
    RunSettings {
        last_run: config.max_runs_per_child == 1,
        workflow_id: workflow_id.to_owned(),
        memory_limit_mb,
        run_timeout_ms: options.run_timeout_ms.unwrap_or(config.run_timeout_ms),
        payload_limit_bytes: mb_to_bytes(payload_limit_mb),
        log_payload_limit_bytes: mb_to_bytes(log_limit_mb),
        state_limit_mb: options
            .state_limit_mb
            .map(|mb| mb as f64)
            .unwrap_or(memory_limit_mb as f64 * 0.25),
        state_props_to_remove: config.state_props_to_remove.clone(),
        sanitize: options.sanitize,
        job_log_level: options.job_log_level.clone(),
        repo_dir: config.repo_dir.to_string_lossy().into_owned(),
        whitelist: config.whitelist.clone(),
        globals: options.globals.clone(),
        compile: config.compile.clone(),
        profile: config.profile,
        console_text: config.console_text,
        adaptor_cache_key: config.adaptor_cache_key,
    }
}

fn raw(body: Vec<u8>) -> Box<RawValue> {
    String::from_utf8(body)
        .ok()
        .and_then(|s| RawValue::from_string(s).ok())
        .unwrap_or_else(|| RawValue::from_string("null".to_owned()).unwrap_or_default())
}

/// Formats a timeout in seconds the way JavaScript prints `ms / 1000`.
fn seconds(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    format!("{s}")
}

/// Runs one workflow to its end, sending events to `tx`.
pub(crate) async fn drive(
    shared: Arc<Shared>,
    spec: RunSpec,
    tx: mpsc::UnboundedSender<EngineEvent>,
) {
    let RunSpec {
        workflow_id,
        mut plan,
        input,
        options,
        resolvers,
    } = spec;
    let mut out = Out {
        workflow_id: workflow_id.clone(),
        tx: Some(tx),
    };
    let settings = settings(&shared.config, &workflow_id, &options);

    // The input dataclip, before anything else (no workflow-start if it cannot be loaded).
    let input: Option<Box<RawValue>> = match input {
        Input::Empty => None,
        Input::Value(v) => Some(v),
        Input::Dataclip(id) => match resolvers.state(&id).await {
            Ok(v) => Some(v),
            Err(message) => return out.fail(EngineFailure::DataClip { id, message }, None),
        },
    };

    let adaptor_versions = match autoinstall(&shared, &mut plan, &workflow_id, &mut out).await {
        Ok(versions) => versions,
        Err(failure) => return out.fail(failure, None),
    };
    let credentials = match load_credentials(&plan, resolvers.as_ref()).await {
        Ok(loaded) => Arc::new(Mutex::new(loaded)),
        Err(failure) => return out.fail(failure, None),
    };

    out.rte_log(format!("Memory limit: {}mb", settings.memory_limit_mb));
    out.rte_log(format!("Timeout: {}s", seconds(settings.run_timeout_ms)));

    let spec = TemplateSpec {
        repo_dir: settings.repo_dir.clone(),
        adaptors: plan::linked_dirs(&plan),
        whitelist: settings.whitelist.clone(),
    };
    let template = shared.templates.for_run(&spec);
    let mut kill_all = shared.kill_all.clone();
    let acquired = tokio::select! {
        child = shared.pool.acquire(template) => child,
        _ = kill_all.wait_for(|k| *k) => Err(crate::Error::Destroyed),
    };
    let mut child = match acquired {
        Ok(child) => child,
        Err(e) => return out.fail(EngineFailure::Execution(e.to_string()), None),
    };
    let ctx = Dispatch {
        shared: &shared,
        resolvers,
        credentials,
        adaptor_versions,
        settings,
    };
    let reusable = ctx.dispatch(&mut child, plan, input, &mut out).await;
    shared.pool.release(child, reusable);
}

/// Installs the plan's adaptors that are not installed yet (one install at a time,
/// engine-wide), pointing the plan at each installed tree; returns the versions each adaptor
/// runs with.
async fn autoinstall(
    shared: &Shared,
    plan: &mut PlanJson,
    workflow_id: &str,
    out: &mut Out,
) -> Result<BTreeMap<String, Vec<String>>, EngineFailure> {
    let mut adaptor_versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for specifier in plan::adaptors(plan) {
        let (name, version) = split_specifier(&specifier);
        let (name, version) = (name.to_owned(), version.unwrap_or("").to_owned());
        if version == "local" || plan::has_linker_path(plan, &name) {
            adaptor_versions.entry(name).or_default().push(version);
            continue;
        }
        if !shared.installer.is_installed(&specifier) {
            out.emit(EngineEvent::AutoinstallStart {
                workflow_id: workflow_id.to_owned(),
                module: name.clone(),
                version: version.clone(),
            });
        }
        let started = Instant::now();
        let result = {
            let _one_at_a_time = shared.install_lock.lock().await;
            shared.installer.install(&specifier).await
        };
        let duration = started.elapsed().as_millis() as u64;
        match result {
            Ok(installed) => {
                plan::set_linker(
                    plan,
                    &installed.name,
                    &installed.path.to_string_lossy(),
                    &installed.version,
                );
                adaptor_versions
                    .entry(installed.name.clone())
                    .or_default()
                    .push(installed.version.clone());
                out.emit(EngineEvent::AutoinstallComplete {
                    workflow_id: workflow_id.to_owned(),
                    module: installed.name,
                    version: installed.version,
                    duration,
                });
            }
            Err(message) => {
                out.emit(EngineEvent::AutoinstallError {
                    workflow_id: workflow_id.to_owned(),
                    module: name,
                    version,
                    duration,
                    message: message.clone(),
                });
                return Err(EngineFailure::Autoinstall { specifier, message });
            }
        }
    }
    Ok(adaptor_versions)
}

/// Loads every credential the plan names, all in parallel; failures in the plan's order.
async fn load_credentials(
    plan: &PlanJson,
    resolvers: &dyn Resolvers,
) -> Result<HashMap<String, Box<RawValue>>, EngineFailure> {
    let mut loads = JoinSet::new();
    for id in plan::credential_ids(plan) {
        let fetch = resolvers.credential(&id);
        loads.spawn(async move { (id, fetch.await) });
    }
    let mut failures = Vec::new();
    let mut loaded = HashMap::new();
    while let Some(joined) = loads.join_next().await {
        match joined {
            Ok((id, Ok(value))) => {
                loaded.insert(id, value);
            }
            Ok((id, Err(e))) => failures.push((id, e)),
            Err(e) => failures.push(("?".into(), e.to_string())),
        }
    }
    if !failures.is_empty() {
        let order = plan::credential_ids(plan);
        failures.sort_by_key(|(id, _)| order.iter().position(|o| o == id));
        return Err(EngineFailure::CredentialLoad(failures));
    }
    Ok(loaded)
}

struct Dispatch<'a> {
    shared: &'a Arc<Shared>,
    resolvers: Arc<dyn Resolvers>,
    credentials: Arc<Mutex<HashMap<String, Box<RawValue>>>>,
    adaptor_versions: BTreeMap<String, Vec<String>>,
    settings: RunSettings,
}

enum Ending {
    Finished { recycle: bool },
    Died,
    Killed,
}

impl Dispatch<'_> {
    /// Runs the plan in `child`; returns whether the child can be reused.
    async fn dispatch(
        &self,
        child: &mut ChildProc,
        plan: PlanJson,
        input: Option<Box<RawValue>>,
        out: &mut Out,
    ) -> bool {
        let run = child.next_run;
        child.next_run += 1;
        let pid = child.pid;
        let plan = match RawValue::from_string(plan.to_string()) {
            Ok(plan) => plan,
            Err(e) => {
                out.fail(EngineFailure::Execution(format!("invalid plan: {e}")), None);
                return true;
            }
        };
        let body = input.as_ref().map(|v| v.get().as_bytes()).unwrap_or(b"");
        let memory_limit_mb = self.settings.memory_limit_mb;
        let timeout_ms = self.settings.run_timeout_ms;
        let idle_rss = sys::rss_bytes(Some(pid)).unwrap_or(0);
        let ceiling = rss_ceiling(idle_rss, memory_limit_mb);
        if !child.send(
            &ToChild::Run {
                run,
                plan,
                settings: self.settings.clone(),
            },
            body,
        ) {
            out.fail(EngineFailure::Exit { code: -1 }, Some(pid));
            return false;
        }

        let far = Duration::from_secs(365 * 24 * 3600);
        let deadline = tokio::time::Instant::now()
            + if timeout_ms == 0 {
                far
            } else {
                Duration::from_millis(timeout_ms)
            };
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut over_memory = false;
        let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut kill_all = self.shared.kill_all.clone();

        let ending = loop {
            tokio::select! {
                frame = child.frames.recv() => match frame {
                    None => break Ending::Died,
                    Some(frame) => {
                        if let Some(ending) = self.on_frame(child, run, frame, out) {
                            break ending;
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline), if kill_at.is_none() && timeout_ms > 0 => {
                    out.fail(EngineFailure::Timeout { ms: timeout_ms }, Some(pid));
                    child.send(&ToChild::Interrupt { run }, b"");
                    kill_at = Some(tokio::time::Instant::now() + self.shared.config.kill_grace);
                },
                _ = tokio::time::sleep_until(kill_at.unwrap_or(deadline)), if kill_at.is_some() => {
                    child.kill_now();
                    break Ending::Killed;
                },
                _ = watchdog.tick(), if !over_memory => {
                    if sys::rss_bytes(Some(pid)).is_some_and(|rss| rss > ceiling) {
                        tracing::debug!(pid, "engine child over its memory ceiling: killed");
                        over_memory = true;
                        child.kill_now();
                    }
                },
                _ = kill_all.wait_for(|k| *k) => {
                    child.kill_now();
                    out.fail(EngineFailure::Execution("engine destroyed".into()), Some(pid));
                    break Ending::Killed;
                },
            }
        };

        match ending {
            Ending::Finished { recycle } => {
                out.fail(
                    EngineFailure::Execution("run ended without a result".into()),
                    Some(pid),
                );
                !recycle
            }
            Ending::Killed => false,
            Ending::Died => {
                let status = child.wait_exit(Duration::from_secs(5)).await;
                let said_oom = child.said_out_of_memory(Duration::from_secs(1)).await;
                if over_memory || said_oom {
                    out.fail(EngineFailure::OutOfMemory, Some(pid));
                } else {
                    out.fail(
                        EngineFailure::Exit {
                            code: exit_code(status),
                        },
                        Some(pid),
                    );
                }
                false
            }
        }
    }

    /// Handles one frame from the child; returns the ending when the run is over.
    fn on_frame(&self, child: &ChildProc, run: u64, frame: Frame, out: &mut Out) -> Option<Ending> {
        let message = match frame.message::<ToParent>() {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(pid = child.pid, "bad frame from engine child: {e}");
                return None;
            }
        };
        match message {
            ToParent::Event {
                run: r,
                time,
                event,
            } if r == run => {
                if out.is_open() {
                    let event = self.translate(child, time, event, frame.body);
                    out.emit(event);
                }
                None
            }
            ToParent::Request { req, kind, id, .. } => {
                self.answer(child, req, kind, id);
                None
            }
            ToParent::Finished { run: r, recycle } if r == run => {
                Some(Ending::Finished { recycle })
            }
            _ => None,
        }
    }

    fn answer(&self, child: &ChildProc, req: u64, kind: ResolveKind, id: String) {
        let writer = child.writer();
        let cached = match kind {
            ResolveKind::Credential => self
                .credentials
                .lock()
                .ok()
                .and_then(|c| c.get(&id).cloned()),
            ResolveKind::State => None,
        };
        let resolvers = Arc::clone(&self.resolvers);
        tokio::spawn(async move {
            let result = match (cached, kind) {
                (Some(v), _) => Ok(v),
                (None, ResolveKind::Credential) => resolvers.credential(&id).await,
                (None, ResolveKind::State) => resolvers.state(&id).await,
            };
            let frame = match &result {
                Ok(v) => {
                    crate::ipc::encode(&ToChild::Reply { req, error: None }, v.get().as_bytes())
                }
                Err(e) => crate::ipc::encode(
                    &ToChild::Reply {
                        req,
                        error: Some(e.clone()),
                    },
                    b"",
                ),
            };
            if let Ok(frame) = frame {
                let _ = writer.send(frame);
            }
        });
    }

    /// The child's component versions plus the versions each adaptor runs with.
    fn versions(&self, child: &ChildProc) -> BTreeMap<String, Value> {
        let mut versions: BTreeMap<String, Value> = child
            .versions
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        for (name, list) in &self.adaptor_versions {
            versions.insert(
                name.clone(),
                Value::Array(list.iter().cloned().map(Value::String).collect()),
            );
        }
        versions
    }

    fn translate(
        &self,
        child: &ChildProc,
        time: u64,
        event: ChildEvent,
        body: Vec<u8>,
    ) -> EngineEvent {
        let workflow_id = self.settings.workflow_id.clone();
        let thread_id = child.pid;
        match event {
            ChildEvent::WorkflowStart => EngineEvent::WorkflowStart {
                workflow_id,
                thread_id,
                versions: self.versions(child),
                time,
            },
            ChildEvent::CompileStart => EngineEvent::CompileStart {
                workflow_id,
                thread_id,
            },
            ChildEvent::CompileComplete { duration } => EngineEvent::CompileComplete {
                workflow_id,
                thread_id,
                duration,
            },
            ChildEvent::JobStart { job_id } => EngineEvent::JobStart {
                workflow_id,
                thread_id,
                job_id,
                time,
            },
            ChildEvent::JobComplete {
                job_id,
                duration,
                next,
                mem,
                redacted,
                fuel,
            } => EngineEvent::JobComplete {
                workflow_id,
                thread_id,
                job_id,
                state: raw(body),
                duration,
                next,
                mem,
                redacted,
                fuel,
                time,
            },
            ChildEvent::JobError {
                job_id,
                duration,
                next,
                error,
                redacted,
                fuel,
            } => EngineEvent::JobError {
                workflow_id,
                thread_id,
                job_id,
                state: raw(body),
                error,
                duration,
                next,
                redacted,
                fuel,
                time,
            },
            ChildEvent::Log {
                level,
                name,
                redacted,
            } => EngineEvent::WorkflowLog {
                workflow_id,
                thread_id: Some(thread_id),
                log: LogLine {
                    level,
                    name,
                    message: raw(body),
                    time: time.to_string(),
                    redacted,
                },
            },
            ChildEvent::WorkflowComplete { duration, redacted } => EngineEvent::WorkflowComplete {
                workflow_id,
                thread_id,
                duration,
                state: raw(body),
                redacted,
                time,
            },
            ChildEvent::WorkflowError { error } => EngineEvent::WorkflowError {
                workflow_id,
                thread_id: Some(thread_id),
                error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limit_falls_back_to_the_payload_limit() {
        let config = EngineConfig::default();
        let opts = RunOptions {
            payload_limit_mb: Some(0),
            ..RunOptions::default()
        };
        let s = settings(&config, "w", &opts);
        assert_eq!((s.payload_limit_bytes, s.log_payload_limit_bytes), (0, 0));
        let config = EngineConfig {
            log_payload_limit_mb: Some(1.0),
            ..EngineConfig::default()
        };
        let s = settings(&config, "w", &opts);
        assert_eq!(s.log_payload_limit_bytes, 1 << 20);
        assert_eq!(s.state_limit_mb, 125.0);
    }

    #[test]
    fn timeouts_print_like_javascript() {
        assert_eq!(seconds(600_000), "600");
        assert_eq!(seconds(1500), "1.5");
    }
}
