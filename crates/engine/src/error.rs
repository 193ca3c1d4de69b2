//! Errors of the engine's own machinery (starting children, talking to them). Errors of a run
//! are not Rust errors: they are reported as `workflow-error` events ([`crate::EngineFailure`]).

use std::io;
use std::path::PathBuf;

/// An engine machinery error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The child executable could not be started.
    #[error("cannot start engine child {}: {source}", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The child started but did not say it was ready.
    #[error("engine child {pid} did not start: {reason}")]
    Handshake {
        /// Its pid.
        pid: u32,
        /// What happened instead.
        reason: String,
    },
    /// The current executable could not be found (for the default child command).
    #[error("cannot find the current executable: {0}")]
    CurrentExe(io::Error),
    /// The adaptor repository could not be opened.
    #[error("cannot open the adaptor repository: {0}")]
    Repo(String),
    /// A template could not be started or could not fork a run.
    #[error("engine template: {0}")]
    Template(String),
    /// A pipe or socket for a child could not be made.
    #[error("engine i/o: {0}")]
    Io(io::Error),
    /// The sandbox tier asked for cannot run: not in this build, or its guest module is
    /// missing.
    #[error("{0}")]
    Sandbox(String),
    /// The engine was destroyed.
    #[error("engine is destroyed")]
    Destroyed,
}
