//! Failures of the wasm tier itself (not of the job: those are classified errors in a run's
//! outcome).

use std::path::PathBuf;

/// Why the wasm tier could not load its guest or start a run.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The guest module was not found.
    #[error(
        "the wasm tier's guest module was not found (looked at {}); build it with crates/sandbox-wasm-guest/build.sh or set OPENFN_WASM_GUEST",
        .candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    GuestMissing {
        /// Where it was looked for.
        candidates: Vec<PathBuf>,
    },
    /// Reading the guest or the artifact cache failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// wasmtime refused the module, the engine configuration or the instantiation.
    #[error("wasmtime: {0}")]
    Wasmtime(String),
}
