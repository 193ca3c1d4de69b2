//! The engine: runs workflow plans in a pool of child processes with hard memory and time
//! limits, resolves adaptors, credentials and dataclips on the way, and streams engine events.
//!
//! Architecture invariant: the supervisor side of this crate never runs or compiles user code,
//! and never parses a state or dataclip; everything that touches a job happens in a child
//! process ([`child`]), under that run's memory limit, so one run can never hurt another.
//!
//! - [`Engine`] (`engine.rs`): `new`, `execute` → [`RunHandle`] of [`EngineEvent`]s, `destroy`.
//! - `run.rs`: one run in the supervisor (input, autoinstall, credentials, dispatch, timeout,
//!   memory watchdog, crash classification).
//! - `pool.rs`: the child processes (lazy, reused, FIFO queue, recycled); `child_proc.rs`:
//!   one child process (pooled or forked) seen from the supervisor.
//! - `template/`: warm adaptor templates that fork one process per run, each with a spare run
//!   forked ahead of time.
//! - [`ipc`]: the framed stdin/stdout channel (JSON headers, raw JSON bodies).
//! - [`child`]: the child loop and the [`child::ChildJob`] seam that compiles and runs.
//!
//! Not here: the wire protocol (ws-worker), the JavaScript runtime (runtime), compilation
//! (compiler) or npm installs (repo).

pub mod child;
mod child_proc;
mod config;
mod engine;
mod error;
mod event;
mod install;
pub mod ipc;
pub mod plan;
mod pool;
mod resolve;
mod run;
pub mod sys;
mod template;

pub use config::{
    CHILD_FLAG, ChildCommand, CompileSettings, EngineConfig, RunOptions, Sandbox, TEMPLATE_FLAG,
    TemplateConfig, TemplateMode, WASM_CHILD_FLAG,
};
pub use engine::{Engine, RunHandle};
pub use error::Error;
pub use event::{EngineEvent, EngineFailure, ErrorInfo, LogLine, Mem, Severity, now_ns};
pub use install::{
    AdaptorInstaller, InstallFuture, InstalledAdaptor, PreinstalledRepo, RepoInstaller,
    split_specifier,
};
pub use openfn_runtime::deep_json;
pub use plan::ExecutionPlan;
pub use resolve::{Input, NoResolvers, ResolveFuture, Resolved, Resolvers};
pub use template::{TemplateInfo, TemplateSpec};
