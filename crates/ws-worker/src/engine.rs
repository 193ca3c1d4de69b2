//! The real [`Executor`]: converts the Lightning plan with `openfn-lexicon`, runs it on
//! `openfn-engine` (child processes; nothing of the job runs in the worker process), and maps
//! the engine's events onto the worker's seam.

use std::collections::HashSet;
use std::sync::Arc;

use openfn_engine::{
    ChildCommand, Engine, EngineConfig, EngineEvent as Ev, Input, ResolveFuture,
    Resolvers as EngineResolvers,
};
use openfn_lexicon::lightning::{CollectionsConfig, ConvertOptions, LightningPlan};
use serde_json::{Map, Value, value::RawValue};
use tokio::sync::mpsc;

use crate::WorkerError;
use crate::config::Config;
use crate::executor::{EngineEvent, Executor, Resolvers, RunRequest, StepError};

/// Runs plans on `openfn-engine`.
pub struct EngineExecutor {
    engine: Arc<Engine>,
    repo_dir: std::path::PathBuf,
}

impl EngineExecutor {
    /// Creates the engine with the worker's settings (§6.1: `maxWorkers` = capacity).
    pub fn new(config: &Config) -> Result<EngineExecutor, WorkerError> {
        Self::with_child(config, None)
    }

    /// Like [`EngineExecutor::new`], with the children started by `child` instead of this
    /// executable (an embedder or a test whose own binary is not a child, e.g. the `ws-worker`
    /// binary from an integration test).
    pub fn with_child(
        config: &Config,
        child: Option<ChildCommand>,
    ) -> Result<EngineExecutor, WorkerError> {
        let mut ec = EngineConfig {
            capacity: config.capacity(),
            memory_limit_mb: config.run_memory_mb,
            run_timeout_ms: u64::try_from(config.max_run_duration.as_millis()).unwrap_or(u64::MAX),
            payload_limit_mb: config.payload_limit_mb,
            log_payload_limit_mb: config.log_payload_limit_mb,
            state_props_to_remove: config.state_props_to_remove.clone(),
            profile: config.profile,
            child_command: child,
            templates: config.templates.clone(),
            sandbox: config.sandbox,
            // The run log shows the kit engine's compile lines.
            compile: openfn_engine::CompileSettings {
                log_steps: true,
                ..openfn_engine::CompileSettings::default()
            },
            // adaptor frames in stacks as the kit's engine imports adaptors
            adaptor_cache_key: true,
            ..EngineConfig::default()
        };
        if let Some(dir) = &config.repo_dir {
            ec.repo_dir = dir.clone();
        }
        let repo_dir = ec.repo_dir.clone();
        let engine = Engine::new(ec)
            .map_err(|e| WorkerError::Engine(format!("cannot start the engine: {e}")))?;
        Ok(EngineExecutor {
            engine: Arc::new(engine),
            repo_dir,
        })
    }

    /// The adaptor repository the engine installs into.
    pub fn repo_dir(&self) -> &std::path::Path {
        &self.repo_dir
    }

    /// Stops the engine's children.
    pub fn destroy(&self) {
        self.engine.destroy(false);
    }
}

struct Bridge(Arc<dyn Resolvers>);

impl EngineResolvers for Bridge {
    fn credential(&self, id: &str) -> ResolveFuture {
        let fut = self.0.credential(id.to_string());
        Box::pin(async move {
            let v = fut.await?;
            serde_json::value::to_raw_value(&v).map_err(|e| e.to_string())
        })
    }

    fn state(&self, id: &str) -> ResolveFuture {
        let id = id.to_string();
        Box::pin(async move { Err(format!("state {id} is not available from lightning")) })
    }
}

fn parse(raw: &RawValue) -> Value {
    // Any depth: a state nests as deep as the job's `JSON.stringify` went, past serde_json's
    // limit of 128 (which turned deep states into `null`). Valid JSON always parses.
    openfn_engine::deep_json::parse(raw.get()).unwrap_or(Value::Null)
}

/// The `error_type` of a run that ended with a workflow error, as the kit reports it: its
/// runtime wraps a crash caused by a plain JS error (`ReferenceError`, `SyntaxError`, or any
/// error thrown with severity `crash`) in `RuntimeCrash`, and its engine reports a workflow
/// error as `type || name`, without the subtype. So `run:complete` says `RuntimeCrash` while
/// the step's `step:complete` (the job error) names the JS error.
fn workflow_error_type(error: &openfn_engine::ErrorInfo) -> String {
    const JS_ERRORS: [&str; 8] = [
        "Error",
        "ReferenceError",
        "SyntaxError",
        "TypeError",
        "RangeError",
        "EvalError",
        "URIError",
        "AggregateError",
    ];
    let crash = matches!(error.severity, openfn_engine::Severity::Crash);
    if crash && JS_ERRORS.contains(&error.error_type.as_str()) {
        "RuntimeCrash".to_owned()
    } else {
        error.error_type.clone()
    }
}

fn severity(s: &openfn_engine::Severity) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "crash".into())
}

/// An install the engine had to fetch (`autoinstall-start`, then `autoinstall-complete`) as
/// [`EngineEvent::AdaptorInstalled`]; `fetching` remembers the starts. `None` for every other
/// event, and for an adaptor that was found installed.
fn map_install(ev: &Ev, fetching: &mut HashSet<String>) -> Option<EngineEvent> {
    match ev {
        Ev::AutoinstallStart { module, .. } => {
            fetching.insert(module.clone());
            None
        }
        Ev::AutoinstallComplete {
            module,
            version,
            duration,
            ..
        } if fetching.remove(module) => Some(EngineEvent::AdaptorInstalled {
            specifier: format!("{module}@{version}"),
            duration_ms: *duration,
        }),
        _ => None,
    }
}

/// A wasm-tier step's fuel (not a Lightning field): logged at debug and counted in
/// `openfn_worker_wasm_fuel_total`.
fn note_fuel(ev: &Ev) {
    if let Ev::JobComplete {
        job_id,
        fuel: Some(fuel),
        ..
    }
    | Ev::JobError {
        job_id,
        fuel: Some(fuel),
        ..
    } = ev
    {
        tracing::debug!(job_id, fuel, "wasm step fuel");
        crate::metrics::add_wasm_fuel(*fuel);
    }
}

/// Maps one engine event; `None` for events the worker doesn't forward.
fn map_event(ev: Ev) -> Option<EngineEvent> {
    Some(match ev {
        Ev::WorkflowStart { versions, .. } => EngineEvent::WorkflowStart {
            versions: versions.into_iter().collect::<Map<_, _>>(),
        },
        Ev::JobStart { job_id, .. } => EngineEvent::JobStart { job_id },
        Ev::JobComplete {
            job_id,
            state,
            duration,
            next,
            mem,
            redacted,
            thread_id,
            ..
        } => EngineEvent::JobComplete {
            job_id,
            state: parse(&state),
            duration_ms: duration,
            next,
            mem: Some(mem),
            thread_id: Some(Value::from(thread_id)),
            redacted,
        },
        Ev::JobError {
            job_id,
            state,
            error,
            duration,
            next,
            redacted,
            thread_id,
            ..
        } => EngineEvent::JobError {
            job_id,
            state: parse(&state),
            error: StepError {
                severity: severity(&error.severity),
                error_type: error.reported_type().to_string(),
                message: error.message.clone(),
            },
            duration_ms: duration,
            next,
            thread_id: Some(Value::from(thread_id)),
            redacted,
        },
        Ev::WorkflowLog { log, .. } => EngineEvent::Log {
            level: log.level,
            source: log.name,
            message: parse(&log.message),
            // ns → µs.
            timestamp: (log.time.len() > 3).then(|| log.time[..log.time.len() - 3].to_string()),
            redacted: log.redacted,
        },
        Ev::WorkflowComplete { state, .. } => EngineEvent::WorkflowComplete {
            state: parse(&state),
        },
        Ev::WorkflowError { error, .. } => EngineEvent::WorkflowError {
            error_type: workflow_error_type(&error),
            message: error.message.clone(),
            severity: severity(&error.severity),
        },
        other => {
            tracing::debug!(event = other.name(), "engine event");
            return None;
        }
    })
}

impl Executor for EngineExecutor {
    fn execute(
        &self,
        request: RunRequest,
        resolvers: Arc<dyn Resolvers>,
    ) -> mpsc::UnboundedReceiver<EngineEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        let plan = match LightningPlan::from_value(request.plan) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(EngineEvent::WorkflowError {
                    error_type: "ExecutionError".into(),
                    message: format!("invalid plan: {e}"),
                    severity: "exception".into(),
                });
                return rx;
            }
        };
        let convert = ConvertOptions {
            collections: request.collections.map(|c| CollectionsConfig {
                version: c.version,
                endpoint: c.url,
                token: c.token,
            }),
            monorepo_roots: request.monorepo_dir.into_iter().collect(),
            start_time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| u64::try_from(d.as_millis()).ok()),
            ..ConvertOptions::default()
        };
        let converted = plan.to_execution_plan(&convert);
        let mut options = converted.options;
        let o = &request.options;
        options.run_timeout_ms = Some(u64::try_from(o.run_timeout.as_millis()).unwrap_or(u64::MAX));
        options.memory_limit_mb = Some(o.memory_limit_mb);
        options.payload_limit_mb = Some(o.payload_limit_mb as u64);
        options.log_payload_limit_mb = o.log_payload_limit_mb.map(|l| l as u64);
        let input = match request.input {
            None => Input::Empty,
            Some(bytes) => match String::from_utf8(bytes)
                .ok()
                .and_then(|t| RawValue::from_string(t).ok())
            {
                Some(raw) => Input::Value(raw),
                None => {
                    let _ = tx.send(EngineEvent::WorkflowError {
                        error_type: "DataClipError".into(),
                        message: "the input dataclip is not valid JSON".into(),
                        severity: "exception".into(),
                    });
                    return rx;
                }
            },
        };
        let mut handle =
            self.engine
                .execute(converted.plan, input, options, Arc::new(Bridge(resolvers)));
        tokio::spawn(async move {
            let mut fetching = HashSet::new();
            while let Some(ev) = handle.next().await {
                note_fuel(&ev);
                let mapped = map_install(&ev, &mut fetching).or_else(|| map_event(ev));
                if let Some(mapped) = mapped
                    && tx.send(mapped).is_err()
                {
                    break;
                }
            }
        });
        rx
    }

    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
}

#[cfg(test)]
mod deep_state_tests {
    use serde_json::value::RawValue;

    #[test]
    fn a_state_thousands_of_levels_deep_is_parsed_whole() {
        let text = format!(
            "{}{{\"x\":1}}{}",
            "{\"a\":[".repeat(5000),
            "]}".repeat(5000)
        );
        let raw = RawValue::from_string(text.clone()).expect("json");
        let value = super::parse(&raw);
        assert!(!value.is_null());
        assert_eq!(openfn_engine::deep_json::to_string(&value), text);
        openfn_engine::deep_json::drop_value(value);
    }
}

/// The bridge from the engine's events to the worker's: every event the worker forwards, with
/// its fields as the run handler reads them, and the events it leaves out.
#[cfg(test)]
mod bridge_tests {
    use openfn_engine::{EngineEvent as Ev, ErrorInfo, LogLine, Mem, Severity};
    use serde_json::{json, value::RawValue};

    use super::map_event;
    use crate::executor::{EngineEvent, StepError};

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("json")
    }

    fn mem() -> Mem {
        Mem {
            job: 10,
            system: 20,
            peak: Some(30),
        }
    }

    #[test]
    fn workflow_start_keeps_the_versions() {
        let versions = [("node".to_string(), json!("22.0.0"))]
            .into_iter()
            .collect();
        let mapped = map_event(Ev::WorkflowStart {
            workflow_id: "w".into(),
            thread_id: 7,
            versions,
            time: 1,
        });
        let Some(EngineEvent::WorkflowStart { versions }) = mapped else {
            panic!("{mapped:?}");
        };
        assert_eq!(versions.get("node"), Some(&json!("22.0.0")));
    }

    #[test]
    fn job_events_keep_state_timing_edges_and_thread() {
        assert_eq!(
            map_event(Ev::JobStart {
                workflow_id: "w".into(),
                thread_id: 7,
                job_id: "j".into(),
                time: 1,
            }),
            Some(EngineEvent::JobStart { job_id: "j".into() })
        );
        assert_eq!(
            map_event(Ev::JobComplete {
                workflow_id: "w".into(),
                thread_id: 7,
                job_id: "j".into(),
                state: raw(r#"{"data":{"x":1}}"#),
                duration: 12,
                next: vec!["k".into()],
                mem: mem(),
                redacted: true,
                fuel: None,
                time: 1,
            }),
            Some(EngineEvent::JobComplete {
                job_id: "j".into(),
                state: json!({"data": {"x": 1}}),
                duration_ms: 12,
                next: vec!["k".into()],
                mem: Some(mem()),
                thread_id: Some(json!(7)),
                redacted: true,
            })
        );
    }

    #[test]
    fn job_errors_report_the_subtype_and_the_severity() {
        let mut error = ErrorInfo::new("RuntimeError", "TypeError: x", Severity::Fail);
        error.subtype = Some("TypeError".into());
        assert_eq!(
            map_event(Ev::JobError {
                workflow_id: "w".into(),
                thread_id: 7,
                job_id: "j".into(),
                state: raw(r#"{"errors":{}}"#),
                error,
                duration: 3,
                next: vec![],
                redacted: false,
                fuel: None,
                time: 1,
            }),
            Some(EngineEvent::JobError {
                job_id: "j".into(),
                state: json!({"errors": {}}),
                error: StepError {
                    severity: "fail".into(),
                    error_type: "TypeError".into(),
                    message: "TypeError: x".into(),
                },
                duration_ms: 3,
                next: vec![],
                thread_id: Some(json!(7)),
                redacted: false,
            })
        );
    }

    #[test]
    fn logs_keep_source_and_redaction_with_a_microsecond_timestamp() {
        assert_eq!(
            map_event(Ev::WorkflowLog {
                workflow_id: "w".into(),
                thread_id: Some(7),
                log: LogLine {
                    level: "info".into(),
                    name: "JOB".into(),
                    message: raw(r#"["hi",1]"#),
                    time: "1700000000123456789".into(),
                    redacted: true,
                },
            }),
            Some(EngineEvent::Log {
                level: "info".into(),
                source: "JOB".into(),
                message: json!(["hi", 1]),
                timestamp: Some("1700000000123456".into()),
                redacted: true,
            })
        );
        // A time too short to hold nanoseconds gives no timestamp.
        let Some(EngineEvent::Log { timestamp, .. }) = map_event(Ev::WorkflowLog {
            workflow_id: "w".into(),
            thread_id: None,
            log: LogLine {
                level: "info".into(),
                name: "RTE".into(),
                message: raw(r#"["x"]"#),
                time: "12".into(),
                redacted: false,
            },
        }) else {
            panic!("not a log");
        };
        assert_eq!(timestamp, None);
    }

    #[test]
    fn run_ends_map_to_complete_or_error_with_the_kill_and_crash_classes() {
        assert_eq!(
            map_event(Ev::WorkflowComplete {
                workflow_id: "w".into(),
                thread_id: 7,
                duration: 5,
                state: raw(r#"{"data":[1]}"#),
                redacted: false,
                time: 1,
            }),
            Some(EngineEvent::WorkflowComplete {
                state: json!({"data": [1]})
            })
        );
        for (class, message, severity) in [
            (
                "TimeoutError",
                "Workflow failed to return within 300ms",
                Severity::Kill,
            ),
            (
                "OOMError",
                "Run exceeded maximum memory usage",
                Severity::Kill,
            ),
            (
                "ExitError",
                "Process exited with code: 137",
                Severity::Crash,
            ),
            (
                "CredentialLoadError",
                "Failed to load credential c: x",
                Severity::Exception,
            ),
        ] {
            let want = severity.to_string();
            assert_eq!(
                map_event(Ev::WorkflowError {
                    workflow_id: "w".into(),
                    thread_id: None,
                    error: ErrorInfo::new(class, message, severity),
                }),
                Some(EngineEvent::WorkflowError {
                    error_type: class.into(),
                    message: message.into(),
                    severity: want,
                })
            );
        }
    }

    #[test]
    fn an_install_that_fetched_is_forwarded_once_and_one_found_installed_is_not() {
        let start = Ev::AutoinstallStart {
            workflow_id: "w".into(),
            module: "@openfn/language-common".into(),
            version: "3.3.4".into(),
        };
        let complete = Ev::AutoinstallComplete {
            workflow_id: "w".into(),
            module: "@openfn/language-common".into(),
            version: "3.3.4".into(),
            duration: 1955,
        };
        let mut fetching = super::HashSet::new();
        assert_eq!(super::map_install(&complete, &mut fetching), None);
        assert_eq!(super::map_install(&start, &mut fetching), None);
        assert_eq!(
            super::map_install(&complete, &mut fetching),
            Some(EngineEvent::AdaptorInstalled {
                specifier: "@openfn/language-common@3.3.4".into(),
                duration_ms: 1955,
            })
        );
        assert_eq!(super::map_install(&complete, &mut fetching), None);
    }

    #[test]
    fn install_and_compile_events_are_not_forwarded() {
        for ev in [
            Ev::CompileStart {
                workflow_id: "w".into(),
                thread_id: 7,
            },
            Ev::CompileComplete {
                workflow_id: "w".into(),
                thread_id: 7,
                duration: 1,
            },
            Ev::AutoinstallComplete {
                workflow_id: "w".into(),
                module: "m".into(),
                version: "1".into(),
                duration: 1,
            },
        ] {
            assert_eq!(map_event(ev), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openfn_engine::{ErrorInfo, Severity};

    #[test]
    fn a_crash_from_a_js_error_is_a_runtime_crash_on_the_run() {
        let crash = ErrorInfo::new("ReferenceError", "x is not defined", Severity::Crash);
        assert_eq!(workflow_error_type(&crash), "RuntimeCrash");
        let exit = ErrorInfo::new("ExitError", "child died", Severity::Crash);
        assert_eq!(workflow_error_type(&exit), "ExitError");
        let fail = ErrorInfo::new("TypeError", "not a function", Severity::Fail);
        assert_eq!(workflow_error_type(&fail), "TypeError");
    }
}
