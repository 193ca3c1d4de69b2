//! Usage errors: arguments that can never work (an unknown log level, `--start` on a job,
//! a step that is not in the workflow). They exit 2, as clap's own usage errors do; every
//! other failure exits 1.

use std::fmt;

/// A usage error: one line, with its hint.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error as an `anyhow::Error`.
pub fn error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(message.into()))
}

/// Whether `e` (or anything in its chain) is a usage error.
pub fn is_usage(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<Usage>())
}
