//! The state one `NodeHost` shares with every realm it installs (policy, resolvers, bytecode
//! cache, console sink, HTTP client), and the console types. Below the host, the loader and
//! `fetch`, which all reach it.

use std::sync::Arc;

use crate::bytecode::BytecodeCache;
use crate::http::{HttpContext, HttpTransport};
use crate::policy::HostPolicy;
use crate::source::ModuleSource;

/// Log levels of `console` calls made by adaptor code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleLevel {
    /// `console.debug`, `console.trace`.
    Debug,
    /// `console.log`, `console.info`.
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
}

/// Receives what adaptor code writes to `console` (the runtime routes it to the `ADA` logger).
pub trait ConsoleSink: Send + Sync {
    /// One console call; `message` is formatted like Node's `util.format`.
    fn log(&self, level: ConsoleLevel, message: &str);
}

/// A sink that forwards to `tracing` under the target `ADA`.
#[derive(Debug, Default)]
pub struct TracingConsole;

impl ConsoleSink for TracingConsole {
    fn log(&self, level: ConsoleLevel, message: &str) {
        match level {
            ConsoleLevel::Debug => tracing::debug!(target: "ADA", "{message}"),
            ConsoleLevel::Info => tracing::info!(target: "ADA", "{message}"),
            ConsoleLevel::Warn => tracing::warn!(target: "ADA", "{message}"),
            ConsoleLevel::Error => tracing::error!(target: "ADA", "{message}"),
        }
    }
}

pub(crate) struct Shared {
    pub(crate) policy: HostPolicy,
    pub(crate) resolvers: Arc<dyn ModuleSource>,
    pub(crate) bytecode: Option<BytecodeCache>,
    pub(crate) console: Arc<dyn ConsoleSink>,
    pub(crate) http: Arc<dyn HttpTransport>,
}

impl HttpContext for Shared {
    fn http(&self) -> &dyn HttpTransport {
        self.http.as_ref()
    }

    fn policy(&self) -> &HostPolicy {
        &self.policy
    }
}
