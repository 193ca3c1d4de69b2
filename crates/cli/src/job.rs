//! What a run is for the CLI, whichever tier runs it: the [`Job`] handed to a tier and the
//! [`Outcome`] it reports back (`execute` builds the one and writes the other; the wasm tier
//! runs a job too).

use std::path::PathBuf;

use openfn_engine::CompileSettings;
use serde_json::Value;
use serde_json::value::RawValue;

/// The result of a run, as the CLI reports it.
#[derive(Debug)]
pub struct Outcome {
    /// The final state as JSON text, of any depth (`None` when the workflow produced none).
    pub state: Option<Box<RawValue>>,
    /// The run failed (crash, kill or exception): exit code 1.
    pub failed: bool,
}

/// Everything `execute` needs, from the arguments or from `openfn test`.
pub struct Job {
    pub plan: Value,
    /// The input state as JSON text: a state file is handed to the engine as read, never
    /// parsed into a tree here (an 11 MB state cost the CLI process half a second that way).
    pub input: Option<Box<RawValue>>,
    pub repo_dir: PathBuf,
    pub autoinstall: bool,
    pub compile: CompileSettings,
    pub timeout_ms: u64,
    pub memory_limit_mb: u64,
    pub sanitize: Option<&'static str>,
    /// Where to cache step outputs (`--cache-steps`).
    pub cache_dir: Option<PathBuf>,
    /// The sandbox tier the engine runs the job on (`--sandbox`).
    pub sandbox: openfn_engine::Sandbox,
}
