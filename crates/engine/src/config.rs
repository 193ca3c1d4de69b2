//! Engine configuration (parsed once by the worker or the CLI) and per-run overrides.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::install::AdaptorInstaller;

/// Per-run overrides (from the Lightning run options or CLI flags); `None` keeps the engine's
/// setting.
pub use openfn_lexicon::plan::RunOptions;

/// The hidden command-line flag that puts a binary in child mode (see
/// [`crate::child::maybe_run_child`]).
pub const CHILD_FLAG: &str = "--openfn-engine-child";

/// The hidden command-line flag that puts a binary in template mode (see
/// [`crate::child::maybe_run_child`]); the adaptor set follows as JSON.
pub const TEMPLATE_FLAG: &str = "--openfn-engine-template";

/// The hidden command-line flag that puts a binary in wasm child mode: runs execute on the
/// wasm tier (the `wasm` feature). The guest module's path and the artifact cache directory
/// follow it.
pub const WASM_CHILD_FLAG: &str = "--openfn-engine-wasm-child";

/// Where runs execute: the sandbox tier of an engine (parsed once, at the edge: the worker's
/// `--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sandbox {
    /// QuickJS in a pooled child process (or a run forked from a warm template).
    #[default]
    Native,
    /// QuickJS compiled to wasm32-wasip1, run by wasmtime in a pooled child process: fuel and
    /// a linear-memory cap, no ambient authority. Needs the `wasm` feature and the guest module.
    Wasm,
}

impl Sandbox {
    /// `native` or `wasm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sandbox::Native => "native",
            Sandbox::Wasm => "wasm",
        }
    }

    /// Whether this build has the wasm tier (the `wasm` feature).
    pub const WASM_BUILT: bool = cfg!(feature = "wasm");
}

impl std::fmt::Display for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Sandbox {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Sandbox::Native),
            "wasm" => Ok(Sandbox::Wasm),
            other => Err(format!("unknown sandbox {other:?} (native or wasm)")),
        }
    }
}

/// How to start a child process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildCommand {
    /// Executable.
    pub program: PathBuf,
    /// Arguments (must make the program call [`crate::child::maybe_run_child`] into child mode).
    pub args: Vec<String>,
}

impl ChildCommand {
    /// The current executable with the hidden child flag: the worker ships as one file.
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self {
            program: std::env::current_exe()?,
            args: vec![CHILD_FLAG.to_owned()],
        })
    }

    /// Starts the program with `args`, only `env` in its environment, `stdin`/`stdout` as
    /// given, stderr piped (the supervisor reads it) and killed when the handle is dropped.
    pub(crate) fn spawn(
        &self,
        env: &BTreeMap<String, String>,
        stdin: std::process::Stdio,
        stdout: std::process::Stdio,
    ) -> Result<tokio::process::Child, crate::error::Error> {
        tokio::process::Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .envs(env)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| crate::error::Error::Spawn {
                program: self.program.clone(),
                source,
            })
    }

    /// Another binary that calls `maybe_run_child()` at the top of `main` (tests, tools).
    pub fn binary(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: vec![CHILD_FLAG.to_owned()],
        }
    }

    /// The same program started as a wasm child (the child flag replaced by
    /// [`WASM_CHILD_FLAG`], then the guest module's path and the artifact cache directory).
    pub fn wasm(&self, guest: &std::path::Path, cache_dir: &std::path::Path) -> Self {
        self.in_mode([
            WASM_CHILD_FLAG.to_owned(),
            guest.to_string_lossy().into_owned(),
            cache_dir.to_string_lossy().into_owned(),
        ])
    }

    /// The same program with the child flag replaced by `mode` (a mode flag and its values).
    fn in_mode(&self, mode: impl IntoIterator<Item = String>) -> Self {
        let args = self
            .args
            .iter()
            .filter(|a| *a != CHILD_FLAG)
            .cloned()
            .chain(mode)
            .collect();
        Self {
            program: self.program.clone(),
            args,
        }
    }

    /// The same program started as a template for `spec_json` (the child flag replaced by
    /// [`TEMPLATE_FLAG`]).
    pub(crate) fn template(&self, spec_json: String) -> Self {
        self.in_mode([TEMPLATE_FLAG.to_owned(), spec_json])
    }
}

/// Engine-wide settings; every run may override the limits with [`RunOptions`].
#[derive(Clone)]
pub struct EngineConfig {
    /// Number of child processes (runs executing at once). Default 5.
    pub capacity: usize,
    /// Adaptor repository directory. Default `~/.openfn/worker/repo`.
    pub repo_dir: PathBuf,
    /// Memory limit per run, MB. Default 500.
    pub memory_limit_mb: u64,
    /// Run timeout, ms. Default 600000 (10 min).
    pub run_timeout_ms: u64,
    /// Payload limit, MB (an output state over it is redacted). Default 10.
    pub payload_limit_mb: f64,
    /// Log line limit, MB; unset falls back to the payload limit (docs/protocol.md §7.1).
    pub log_payload_limit_mb: Option<f64>,
    /// Keys removed from every step's output state. Default `configuration`, `response`.
    pub state_props_to_remove: Vec<String>,
    /// A child is replaced after this many runs (0 = never). Default 100.
    pub max_runs_per_child: u32,
    /// How children are started. Default: the current executable with [`CHILD_FLAG`].
    pub child_command: Option<ChildCommand>,
    /// Environment of the children (the supervisor's own environment is not passed on).
    pub env: BTreeMap<String, String>,
    /// After a timeout the child is asked to stop; it is killed after this grace period.
    pub kill_grace: Duration,
    /// Whitelist of importable modules (regular-expression sources). Default `^@openfn/`.
    pub whitelist: Vec<String>,
    /// Installs adaptors before dispatch. Default: [`crate::RepoInstaller`] on `repo_dir`.
    pub installer: Option<Arc<dyn AdaptorInstaller>>,
    /// How the child compiles job code (the CLI's `--no-compile`, `--ignore-imports`,
    /// `--immutable`); the worker keeps the defaults.
    pub compile: CompileSettings,
    /// Report each step's peak memory (`mem.peak` on job-complete): the worker's `--profile`.
    pub profile: bool,
    /// Job `console` arguments as the kit's text logger shows them (the CLI without
    /// `--log-json`); the worker keeps the JSON logger's values.
    pub console_text: bool,
    /// Adaptor frames in a step's error stack name the adaptor as the kit's engine imports it,
    /// `<entry>?cache=<workflow id>` (the worker; the kit CLI has no cache key).
    pub adaptor_cache_key: bool,
    /// Warm adaptor templates (forked run processes); see [`TemplateConfig`]. Not used on
    /// the wasm tier.
    pub templates: TemplateConfig,
    /// Where runs execute. Default [`Sandbox::Native`].
    pub sandbox: Sandbox,
}

/// When runs start from a warm template (a process that has loaded an adaptor set and forks
/// one process per run) instead of a pooled child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateMode {
    /// Every run uses a pooled child (today's path).
    Off,
    /// A new adaptor set runs in a pooled child once while its template starts in the
    /// background; later runs of the set fork from the template.
    Background,
    /// A new adaptor set waits for its template; every run forks from one.
    Always,
}

/// Warm adaptor templates: which, how many, and how much memory they may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateConfig {
    /// When templates are used. Default [`TemplateMode::Background`] where `fork` exists.
    pub mode: TemplateMode,
    /// At most this many templates (least recently used retired first). Default 4.
    pub max_templates: usize,
    /// The templates' resident memory together stays under this, MB. Default 1024.
    pub max_memory_mb: u64,
    /// Adaptor specifiers (`name@version`) whose templates are started with the engine.
    pub prewarm: Vec<String>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        Self {
            mode: if cfg!(target_os = "linux") {
                TemplateMode::Background
            } else {
                TemplateMode::Off
            },
            max_templates: 4,
            max_memory_mb: 1024,
            prewarm: Vec::new(),
        }
    }
}

/// How the child compiles and feeds job code; forwarded to every run of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CompileSettings {
    /// Skip compilation: expressions are already ES modules with `export default [...]`.
    #[serde(default)]
    pub skip: bool,
    /// Don't add adaptor imports at all.
    #[serde(default)]
    pub no_imports: bool,
    /// Names never auto-imported (the workflow globals' exports are always added).
    #[serde(default)]
    pub ignore_imports: Vec<String>,
    /// Pass a JSON clone of the state into every operation.
    #[serde(default)]
    pub immutable_state: bool,
    /// Log the kit engine's compile lines (`Compiling all workflow steps...`, the compiler's
    /// `Finished in`, `Compiled <step> in` per step, `Workflow compilation complete` at
    /// success), as the kit worker's run log shows them. Off: one `Workflow compilation
    /// complete` line at info (the CLI prints its own compile lines).
    #[serde(default)]
    pub log_steps: bool,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("capacity", &self.capacity)
            .field("repo_dir", &self.repo_dir)
            .field("memory_limit_mb", &self.memory_limit_mb)
            .field("run_timeout_ms", &self.run_timeout_ms)
            .field("payload_limit_mb", &self.payload_limit_mb)
            .field("log_payload_limit_mb", &self.log_payload_limit_mb)
            .field("max_runs_per_child", &self.max_runs_per_child)
            .field("child_command", &self.child_command)
            .field("sandbox", &self.sandbox)
            .finish_non_exhaustive()
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        Self {
            capacity: 5,
            repo_dir: home.join(".openfn").join("worker").join("repo"),
            memory_limit_mb: 500,
            run_timeout_ms: 600_000,
            payload_limit_mb: 10.0,
            log_payload_limit_mb: None,
            state_props_to_remove: vec!["configuration".into(), "response".into()],
            max_runs_per_child: 100,
            child_command: None,
            env: BTreeMap::new(),
            kill_grace: Duration::from_millis(500),
            whitelist: vec!["^@openfn/".into()],
            installer: None,
            compile: CompileSettings::default(),
            profile: false,
            console_text: false,
            adaptor_cache_key: false,
            templates: TemplateConfig::default(),
            sandbox: Sandbox::Native,
        }
    }
}

/// Converts a limit in MB to bytes (`0` means every payload is too large).
pub(crate) fn mb_to_bytes(mb: f64) -> u64 {
    if mb.is_finite() && mb > 0.0 {
        (mb * 1024.0 * 1024.0) as u64
    } else {
        0
    }
}
