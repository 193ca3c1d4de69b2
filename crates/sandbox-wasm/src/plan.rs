//! Plan mode on the host side: a whole execution plan run by `openfn-runtime` inside the
//! guest, with module files and HTTP answered by the host ([`crate::files`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_lexicon::error::SerializedError;
use openfn_node_host::{FsModules, HostPolicy, HttpTransport, ReqwestTransport};
use serde_json::{Value, json};

use crate::error::WasmError;
use crate::files::{GuestAccess, MessageHook, PlanResolver};
use crate::message::GuestMessage;
use crate::sandbox::{Limits, WasmSandbox};
use crate::snapshot::SnapshotUse;

/// What a plan run may reach and how it logs.
#[derive(Clone)]
pub struct PlanOptions {
    /// The adaptor repo root: modules load (read-only) from `<repo>/node_modules`.
    pub repo: Option<PathBuf>,
    /// Adaptors linked to local directories (`name` → directory), readable too.
    pub linked: BTreeMap<String, PathBuf>,
    /// Hosts HTTP may reach (`*` for any), as the native tier's policy.
    pub allowed_hosts: Vec<String>,
    /// The runtime's log level (`debug`, `info`, …).
    pub log_level: String,
    /// The workflow's timeout in milliseconds (on the guest's virtual clock for awaits).
    pub run_timeout_ms: Option<u64>,
    /// Keys removed from the final state (the CLI drops `configuration`).
    pub state_props_to_remove: Option<Vec<String>>,
    /// Job `console` calls print objects as node's text console does (errors with their
    /// stack, `undefined`, dates): the CLI's text logger; off for JSON logs and the worker.
    pub console_text: bool,
    /// Adaptor frames in error stacks name the adaptor's entry as `<file>?cache=<key>`, as the
    /// kit's engine imports it (the worker passes the run id).
    pub adaptor_cache_key: Option<String>,
    /// Extra job globals, as the native runtime's `RunOptions::globals` (the worker's `meta`).
    pub globals: Option<Value>,
    /// The transport HTTP goes through; share one per process (connection pools).
    pub http: Arc<dyn HttpTransport>,
    /// Node resolution of the guest's module requests; share one per process (its caches).
    pub modules: Arc<FsModules>,
    /// Credential and dataclip lookups; without one they fail as on a runtime without callbacks.
    pub resolver: Option<Arc<dyn PlanResolver>>,
    /// Streams the run: every log line and runtime event goes to this callback as the guest
    /// sends it (with the fuel used so far), and is then left out of [`PlanOutcome`]'s `lines`
    /// and `events`. Without one they are collected and returned at the end.
    pub on_message: Option<MessageHook>,
    /// Start the run from a pre-initialised snapshot with the plan's adaptors loaded
    /// ([`crate::snapshot`]); on by default, off for measuring or comparing.
    pub snapshot: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            repo: None,
            linked: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            log_level: "info".to_owned(),
            run_timeout_ms: None,
            state_props_to_remove: None,
            console_text: false,
            adaptor_cache_key: None,
            globals: None,
            http: Arc::new(ReqwestTransport::new()),
            modules: Arc::new(FsModules::new()),
            resolver: None,
            on_message: None,
            snapshot: true,
        }
    }
}

/// One runtime event and the fuel used when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEvent {
    /// `job-start`, `job-complete`, `job-error`, …
    pub name: String,
    /// The payload, as the native runtime's.
    pub payload: Value,
    /// Fuel used by the run when the event was sent.
    pub fuel: u64,
}

/// What a plan run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOutcome {
    /// The final state when the workflow completed.
    pub state: Option<Value>,
    /// The error (`RtError` as JSON, or a kill from the host) when it did not.
    pub error: Option<Value>,
    /// The runtime's log lines (`LogLine` as JSON), in order.
    pub lines: Vec<Value>,
    /// The runtime's events, with the fuel used at each.
    pub events: Vec<PlanEvent>,
    /// Fuel the run used.
    pub fuel_used: u64,
    /// The instance's largest linear memory in bytes (a snapshot's starts at its size).
    pub memory_peak: usize,
    /// Wall time of the run.
    pub duration: Duration,
    /// Whether (and how) the run started from a pre-initialised snapshot.
    pub snapshot: SnapshotUse,
    /// The guest reported that the run went to the runtime prepared in the snapshot.
    pub prepared: bool,
}

fn killed_value(e: &SerializedError) -> Value {
    serde_json::to_value(e).unwrap_or_else(|_| json!({ "message": e.message }))
}

impl WasmSandbox {
    /// Runs `plan` (an execution plan whose steps hold compiled ES modules) against `input`
    /// through `openfn-runtime` in the guest.
    pub fn run_plan(
        &self,
        plan: &Value,
        input: Option<&Value>,
        options: &PlanOptions,
        limits: &Limits,
    ) -> Result<PlanOutcome, WasmError> {
        let started = Instant::now();
        let mut roots = Vec::new();
        // the repo root (its package.json names the installed versions) and linked adaptors;
        // the guest's node host still loads modules only from <repo>/node_modules and links
        if let Some(repo) = &options.repo {
            roots.extend(repo.canonicalize().ok());
        }
        roots.extend(
            options
                .linked
                .values()
                .filter_map(|p| p.canonicalize().ok()),
        );
        let mut policy = HostPolicy::deny_all();
        for h in &options.allowed_hosts {
            policy = policy.allow_host(h.clone());
        }
        let access = GuestAccess {
            roots,
            modules: options.modules.clone(),
            http: options.http.clone(),
            policy,
            tokio: None,
            resolver: options.resolver.clone(),
            on_message: options.on_message.clone(),
        };
        let modules: BTreeMap<&String, Value> = options
            .linked
            .iter()
            .map(|(k, p)| {
                (
                    k,
                    json!({ "path": p.canonicalize().unwrap_or_else(|_| p.clone()) }),
                )
            })
            .collect();
        let guest_options = json!({
            "repo": options.repo.as_ref().map(|r| r.canonicalize().unwrap_or_else(|_| r.clone())),
            "modules": modules,
            "logLevel": options.log_level,
            "runTimeoutMs": options.run_timeout_ms,
            "statePropsToRemove": options.state_props_to_remove,
            "consoleText": options.console_text,
            "adaptorCacheKey": options.adaptor_cache_key,
            "globals": options.globals,
        });
        let json =
            |v: &Value| serde_json::to_vec(v).map_err(|e| WasmError::Wasmtime(e.to_string()));
        let inputs = [
            json(plan)?,
            input.map(json).transpose()?.unwrap_or_default(),
            json(&guest_options)?,
        ];
        let (snapshot, used) = match options.snapshot {
            true => self.plan_snapshot(plan, &guest_options, &access, limits),
            false => (None, SnapshotUse::Off),
        };
        let (host, killed, fuel_used) = match &snapshot {
            Some(pre) => self.execute_with(pre, "_start", inputs, Some(access), limits, started)?,
            None => self.execute(inputs, Some(access), limits, started)?,
        };
        let mut out = PlanOutcome {
            state: None,
            error: killed.as_ref().map(killed_value),
            lines: Vec::new(),
            events: Vec::new(),
            fuel_used,
            memory_peak: host.limiter.peak,
            duration: Duration::ZERO,
            snapshot: used,
            prepared: false,
        };
        let mut ended = killed.is_some();
        for (message, fuel) in host.messages.into_iter().zip(host.fuel_at) {
            match message {
                GuestMessage::Line { line } => out.lines.push(line),
                GuestMessage::Event { name, payload } => out.events.push(PlanEvent {
                    name,
                    payload,
                    fuel,
                }),
                GuestMessage::Done { state } if !ended => {
                    out.state = Some(state);
                    ended = true;
                }
                GuestMessage::Abort { error } if !ended => {
                    out.error = Some(error);
                    ended = true;
                }
                GuestMessage::Prepared => out.prepared = true,
                _ => {}
            }
        }
        if !ended {
            out.error = Some(
                json!({ "type": "ExitError", "name": "ExitError", "severity": "crash",
                "message": "The wasm guest ended without a result" }),
            );
        }
        out.duration = started.elapsed();
        Ok(out)
    }
}
