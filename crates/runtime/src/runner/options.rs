//! What a run is given and what it returns: options, input, outcome, and the limits the interrupt handler reads.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use serde_json::Value as Json;

use crate::events::StateJson;
use crate::host::{AdaptorHost, EsmHost};
use openfn_lexicon::log::{LogLevel, LogLine};
use openfn_lexicon::plan::ModuleInfo;

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
    /// Job `console` arguments as the kit's text logger shows them (`undefined`, a `Date` as
    /// quoted JSON, an `Error` as its stack) rather than as the JSON logger's values.
    pub console_text: bool,
    /// The kit engine imports each adaptor as `<entry>?cache=<plan id>`, so the adaptor's frames
    /// in the stacks a step's error reports name that URL: `Some(plan id)` gives them the same
    /// (the worker; the kit CLI imports adaptors without it).
    pub adaptor_cache_key: Option<String>,
    /// The process exits after this run: `run` leaves the QuickJS runtime (and the adaptor
    /// realm) to the OS instead of freeing it, which with an adaptor tree loaded is a full
    /// garbage collection and a free of every object (a few ms). Default off.
    pub skip_teardown: bool,
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
            console_text: false,
            adaptor_cache_key: None,
            skip_teardown: false,
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
    pub(super) deadline: Cell<Option<Instant>>,
    pub(super) timeout_ms: Cell<u64>,
    pub(super) timed_out: Cell<bool>,
    pub(super) oom: Cell<bool>,
}

pub(crate) type LogSink = Rc<dyn Fn(LogLine)>;
