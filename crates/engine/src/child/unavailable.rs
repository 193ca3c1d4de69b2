//! The job used by [`super::maybe_run_child`] until the compiler and runtime crates are wired
//! in: it reports an `ExecutionError` for every run, so nothing silently pretends to succeed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ChildJob, Failure, JobRequest, JobSink};
use crate::event::{ErrorInfo, Severity};

/// Fails every run: no JavaScript runtime is linked into this build yet.
pub(super) struct Unavailable;

impl ChildJob for Unavailable {
    fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn run(&self, _request: JobRequest, _sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        Err(Failure::new(ErrorInfo::new(
            "ExecutionError",
            "no javascript runtime is linked into this engine build",
            Severity::Exception,
        )))
    }
}
