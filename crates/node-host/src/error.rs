//! The crate's error type: what can go wrong while installing the host, resolving or loading
//! modules and talking to the network on behalf of adaptor code.

use std::path::PathBuf;

/// Errors of the node host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JavaScript exception or engine error, rendered with its message and stack.
    #[error("javascript error: {0}")]
    Js(String),
    /// The adaptor directory has no usable `package.json` entry point.
    #[error("cannot find the entry point of the package in {0}")]
    NoEntry(PathBuf),
    /// A module path lies outside the roots the policy allows.
    #[error("module path {0} is outside the allowed module roots")]
    PathNotAllowed(PathBuf),
    /// Reading a module or cache file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// Renders a rquickjs error, taking the pending exception (message and stack) if there is one.
    pub fn from_js(ctx: &rquickjs::Ctx<'_>, err: rquickjs::Error) -> Self {
        Error::Js(describe_js_error(ctx, err))
    }
}

/// Text for a rquickjs error: the exception's `name: message` and stack when one is pending.
pub fn describe_js_error(ctx: &rquickjs::Ctx<'_>, err: rquickjs::Error) -> String {
    if let rquickjs::Error::Exception = err {
        let value = ctx.catch();
        if let Some(exc) = value.as_exception() {
            let message = exc.message().unwrap_or_default();
            let stack = exc.stack().unwrap_or_default();
            let name: String = exc.get("name").unwrap_or_else(|_| "Error".to_owned());
            return if stack.is_empty() {
                format!("{name}: {message}")
            } else {
                format!("{name}: {message}\n{stack}")
            };
        }
        if let Ok(s) = value.get::<rquickjs::Coerced<String>>() {
            return s.0;
        }
        return "unknown exception".to_owned();
    }
    err.to_string()
}
