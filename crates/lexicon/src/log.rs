//! Log lines as the kit's JSON logger writes them (`{level, name, message, time}` with a
//! nanosecond time string) and the timestamp helpers for the worker's microsecond strings.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::failure::{Result, decode_str};

/// The level a line was logged at (the logger method used; `log` is written as `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `debug`, priority 0.
    Debug,
    /// `info` / `log`, priority 1.
    Info,
    /// `always`, priority 2.
    Always,
    /// `success`, priority 2.
    Success,
    /// `warn`, priority 2.
    Warn,
    /// `error`, priority 100: shown even at level `none`.
    Error,
}

impl Level {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Always => "always",
            Self::Success => "success",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// The kit logger's priority of this method.
    pub fn priority(self) -> u32 {
        match self {
            Self::Debug => 0,
            Self::Info => 1,
            Self::Always | Self::Success | Self::Warn => 2,
            Self::Error => 100,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A logger's minimum level option (`debug`, `info`, `default`, `none`, `none-really`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// Everything (priority ≥ 0).
    Debug,
    /// Priority ≥ 1.
    Info,
    /// Priority ≥ 2.
    Default,
    /// Only errors (priority ≥ 9).
    None,
    /// Nothing (priority ≥ 1000).
    NoneReally,
}

impl LogLevel {
    /// The minimum priority a line needs to be shown.
    pub fn min_priority(self) -> u32 {
        match self {
            Self::Debug => 0,
            Self::Info => 1,
            Self::Default => 2,
            Self::None => 9,
            Self::NoneReally => 1000,
        }
    }

    /// Whether a line at `level` passes.
    pub fn allows(self, level: Level) -> bool {
        level.priority() >= self.min_priority()
    }
}

/// Logger names (namespaces) used across the stack.
pub mod names {
    /// The CLI.
    pub const CLI: &str = "CLI";
    /// The compiler.
    pub const COMPILER: &str = "CMP";
    /// The runtime.
    pub const RUNTIME: &str = "R/T";
    /// Job code's console.
    pub const JOB: &str = "JOB";
    /// The engine.
    pub const ENGINE: &str = "RTE";
    /// Adaptor code's console.
    pub const ADAPTOR: &str = "ADA";
    /// The worker's versions block.
    pub const VERSIONS: &str = "VER";
}

/// One JSON log line: `{"level":"info","name":"JOB","message":["hola"],"time":"1763798400123456789"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The level.
    pub level: Level,
    /// The logger name (`JOB`, `R/T`…).
    pub name: String,
    /// The logged arguments, already sanitised: strings and JSON values.
    pub message: Vec<Value>,
    /// Nanoseconds since the epoch, as a decimal string.
    pub time: String,
}

impl LogLine {
    /// A line stamped now.
    pub fn now(level: Level, name: impl Into<String>, message: Vec<Value>) -> Self {
        Self {
            level,
            name: name.into(),
            message,
            time: nanos_string(SystemTime::now()),
        }
    }

    /// Parses a line from JSON text.
    ///
    /// # Errors
    /// [`crate::Error::Json`] / [`crate::Error::Decode`] naming the field.
    pub fn from_json_str(text: &str) -> Result<Self> {
        decode_str("log line", text)
    }

    /// The line as compact JSON text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The worker's µs timestamp of this line (see [`micros_from_nanos`]).
    pub fn timestamp(&self) -> String {
        micros_from_nanos(&self.time)
    }
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Nanoseconds since the epoch as a decimal string (19 digits today).
pub fn nanos_string(t: SystemTime) -> String {
    since_epoch(t).as_nanos().to_string()
}

/// Microseconds since the epoch as a decimal string (16 digits today): the worker's
/// `timestamp` format.
pub fn micros_string(t: SystemTime) -> String {
    since_epoch(t).as_micros().to_string()
}

/// A duration as the kit's logs print it: `Nms` under a second, `N.NNNs` under a minute, else
/// `Xm Ys` (`<step> completed in …`, `Workflow completed in …`).
pub fn print_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.3}s", ms as f64 / 1000.0)
    } else {
        format!("{}m {}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Nanoseconds now.
pub fn now_nanos() -> String {
    nanos_string(SystemTime::now())
}

/// Microseconds now.
pub fn now_micros() -> String {
    micros_string(SystemTime::now())
}

/// A nanosecond string turned into the worker's microsecond string: `ns / 1000`, by dropping
/// the last three digits (exact for any length, no float rounding). Non-digit characters are
/// ignored; a string of three digits or fewer gives `"0"`.
pub fn micros_from_nanos(nanos: &str) -> String {
    let digits: String = nanos.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    if digits.len() <= 3 {
        return "0".to_owned();
    }
    digits[..digits.len() - 3].to_owned()
}

/// `nanos` moved back by `millis` ms (the worker stamps its own notes 10 ms early so they sort
/// first). Unparseable input is returned unchanged.
pub fn nanos_minus_millis(nanos: &str, millis: u64) -> String {
    match nanos.parse::<u128>() {
        Ok(n) => n.saturating_sub(u128::from(millis) * 1_000_000).to_string(),
        Err(_) => nanos.to_owned(),
    }
}
