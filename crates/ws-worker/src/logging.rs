//! The worker's own log output: the tracing subscriber, its level filter and its writer.
//!
//! Two rules matter to operators. A log line that cannot be written (stdout is a pipe whose
//! reader went away, as in `ws-worker 2>&1 | head`) is dropped silently: no write error ever
//! reaches a task, and nothing is reported on stderr (which may be the same closed pipe, where
//! a report would panic the task that logged). And colours are used only when the output is a
//! terminal, following `NO_COLOR` and `CLICOLOR_FORCE` ([`use_colors`]).

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Config, LogFormat};

/// Whether ANSI colours go to stdout: the colour rule every binary shares
/// ([`openfn_lexicon::term::use_colour`]: `NO_COLOR` off, `CLICOLOR_FORCE` on, `CLICOLOR=0` or
/// `TERM=dumb` off, else only on a terminal).
pub fn use_colors() -> bool {
    openfn_lexicon::term::use_colour(|k| std::env::var(k).ok(), io::stdout().is_terminal())
}

/// Writes log lines to stdout and swallows every write error. After the first broken pipe it
/// stops trying: nobody will read what follows.
#[derive(Clone, Default)]
pub struct LogWriter {
    closed: Arc<AtomicBool>,
}

/// One log line's writer (see [`LogWriter`]).
pub struct LineWriter {
    closed: Arc<AtomicBool>,
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            closed: self.closed.clone(),
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.closed.load(Ordering::Relaxed)
            && let Err(e) = io::stdout().lock().write_all(buf)
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, Ordering::Relaxed);
        }
        // Reported as written whatever happened: a failed log line must not fail its caller.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.closed.load(Ordering::Relaxed) {
            let _ = io::stdout().lock().flush();
        }
        Ok(())
    }
}

/// The tracing level of a `--log` level name (one of [`crate::config::LOG_LEVELS`]).
fn tracing_level(log_level: &str) -> &'static str {
    match log_level {
        "none" => "off",
        "warn" => "warn",
        "error" => "error",
        "info" | "success" => "info",
        "trace" => "trace",
        _ => "debug",
    }
}

/// Installs the global subscriber: our crates at `--log`'s level (`WORKER_LOG_FILTER`, a
/// tracing filter, overrides it), dependencies only when they warn.
pub fn init(config: &Config) {
    let level = tracing_level(&config.log_level);
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WORKER_LOG_FILTER").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(format!(
                "warn,ws_worker={level},openfn_ws_worker={level},openfn_engine={level}"
            ))
        });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(use_colors())
        .with_writer(LogWriter::default());
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_name_maps_to_a_filter() {
        for name in crate::config::LOG_LEVELS {
            let level = tracing_level(name);
            assert!(
                tracing_subscriber::EnvFilter::try_new(format!("ws_worker={level}")).is_ok(),
                "{name} -> {level}"
            );
        }
        assert_eq!(tracing_level("none"), "off");
    }
}
