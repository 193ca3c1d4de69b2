//! Channel topics and event names.

use std::fmt;
use std::str::FromStr;

use crate::failure::{Error, Result};

/// The worker's queue channel topic.
pub const WORKER_QUEUE: &str = "worker:queue";

/// The prefix of run channel topics (`run:<run id>`).
pub const RUN_PREFIX: &str = "run:";

/// The topic of a run's channel.
pub fn run_topic(run_id: &str) -> String {
    format!("{RUN_PREFIX}{run_id}")
}

/// The run id of a `run:<id>` topic (everything after `run:`).
pub fn run_id_of_topic(topic: &str) -> Option<&str> {
    topic.strip_prefix(RUN_PREFIX)
}

/// The Lightning API version the worker announces (`api_version` socket param).
pub const API_VERSION: &str = "1.2";

/// The application events of the queue and run channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `claim` (worker → Lightning, `worker:queue`).
    Claim,
    /// `work-available` (Lightning → worker, `worker:queue`).
    WorkAvailable,
    /// `fetch:plan`.
    FetchPlan,
    /// `fetch:credential`.
    FetchCredential,
    /// `fetch:dataclip`.
    FetchDataclip,
    /// `run:start`.
    RunStart,
    /// `step:start`.
    StepStart,
    /// `step:complete`.
    StepComplete,
    /// `run:log` (legacy, one line per push).
    RunLog,
    /// `run:batch_logs`.
    RunBatchLogs,
    /// `run:complete`.
    RunComplete,
}

impl Event {
    /// Every event.
    pub const ALL: [Self; 11] = [
        Self::Claim,
        Self::WorkAvailable,
        Self::FetchPlan,
        Self::FetchCredential,
        Self::FetchDataclip,
        Self::RunStart,
        Self::StepStart,
        Self::StepComplete,
        Self::RunLog,
        Self::RunBatchLogs,
        Self::RunComplete,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::WorkAvailable => "work-available",
            Self::FetchPlan => "fetch:plan",
            Self::FetchCredential => "fetch:credential",
            Self::FetchDataclip => "fetch:dataclip",
            Self::RunStart => "run:start",
            Self::StepStart => "step:start",
            Self::StepComplete => "step:complete",
            Self::RunLog => "run:log",
            Self::RunBatchLogs => "run:batch_logs",
            Self::RunComplete => "run:complete",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = Error;
    /// # Errors
    /// [`Error::UnknownEvent`] for any other name.
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| Error::UnknownEvent(s.to_owned()))
    }
}
