//! The Lightning client: joins `worker:queue`, claims runs, executes them through the engine and
//! streams their events, logs and dataclips back over Phoenix channels.
//!
//! Not here: running or compiling user code (the engine's children do that). The supervisor
//! passes dataclip bytes through without parsing them unless a rule of the protocol needs to.

pub mod auth;
pub mod channel;
pub mod collections;
pub mod config;
pub mod engine;
pub mod executor;
pub mod http;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod redact;
pub mod run;
pub mod socket;
pub mod worker;
pub mod workloop;

pub use config::{Config, WorkloopSpec};
pub use executor::{EngineEvent, Executor, MockExecutor, Resolvers, RunRequest};
pub use worker::Worker;

/// Errors of the worker library.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Bad command line.
    #[error("{0}")]
    Cli(String),
    /// Bad configuration value.
    #[error("{0}")]
    Config(String),
    /// Worker token minting or run-token verification failed.
    #[error("{0}")]
    Token(String),
    /// The engine could not start.
    #[error("{0}")]
    Engine(String),
}
