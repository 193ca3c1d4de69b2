//! The CLI's logger: per-component levels parsed from `-l` specs, and printing of the CLI's own
//! lines and of the engine's log lines as coloured text (`[CLI] ✔ …`) or JSON lines
//! (`{"level","name","message","time"}`), as the kit logger prints them.

use anstyle::{AnsiColor, Style};
use openfn_lexicon::log::now_nanos;
use serde_json::Value;

use crate::out;

/// Minimum priority a component prints (the kit's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Default = 2,
    None = 9,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        match text.trim() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "default" => Some(Level::Default),
            "none" => Some(Level::None),
            _ => None,
        }
    }
}

/// Priority of a log call by its method name (`error` shows even at `none`).
fn priority(method: &str) -> u8 {
    match method {
        "debug" => 0,
        "info" | "log" => 1,
        "always" | "warn" | "success" => 2,
        _ => 100,
    }
}

/// Levels of the four components the kit CLI knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    pub cli: Level,
    pub compiler: Level,
    pub runtime: Level,
    pub job: Level,
}

impl Levels {
    /// Parses `-l` values: `debug`, or `compiler=debug,job=none`, or several flags. The kit's
    /// defaults are `default` everywhere but `job`, which is `debug`; a bare `none` silences
    /// the job logger too unless `job` is given.
    pub fn parse(specs: &[String], base: Level) -> Result<Levels, String> {
        let mut levels = Levels {
            cli: base,
            compiler: base,
            runtime: base,
            job: Level::Debug,
        };
        let mut job_given = false;
        let mut bare_none = false;
        for spec in specs {
            for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part.split_once('=') {
                    None => {
                        let level = Level::parse(part).ok_or_else(|| bad_level(part))?;
                        levels.cli = level;
                        levels.compiler = level;
                        levels.runtime = level;
                        bare_none |= level == Level::None;
                    }
                    Some((component, level)) => {
                        let level = Level::parse(level).ok_or_else(|| bad_level(level))?;
                        match component.trim().to_ascii_lowercase().as_str() {
                            "cli" => levels.cli = level,
                            "compiler" | "cmp" => levels.compiler = level,
                            "runtime" | "rt" | "r/t" => levels.runtime = level,
                            "job" => {
                                levels.job = level;
                                job_given = true;
                            }
                            "default" => {
                                levels.cli = level;
                                levels.compiler = level;
                                levels.runtime = level;
                            }
                            other => {
                                return Err(format!(
                                    "unknown log component `{other}`; expected cli, compiler, runtime or job"
                                ));
                            }
                        }
                    }
                }
            }
        }
        if bare_none && !job_given {
            levels.job = Level::None;
        }
        Ok(levels)
    }

    fn for_name(&self, name: &str) -> Level {
        match name {
            "JOB" | "ADA" => self.job,
            "R/T" | "RTE" => self.runtime,
            "CMP" => self.compiler,
            _ => self.cli,
        }
    }
}

fn bad_level(text: &str) -> String {
    format!("unknown log level `{text}`; expected none, debug, info or default")
}

/// Prints log lines to the log stream (stdout, or stderr when stdout carries a result).
#[derive(Debug, Clone)]
pub struct Logger {
    levels: Levels,
    json: bool,
}

impl Logger {
    /// Whether lines are printed as JSON (`--log-json`).
    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn new(levels: Levels, json: bool) -> Self {
        Self { levels, json }
    }

    pub fn json(&self) -> bool {
        self.json
    }

    /// Whether a line of `method` from logger `name` would print.
    pub fn enabled(&self, name: &str, method: &str) -> bool {
        priority(method) >= self.levels.for_name(name) as u8
    }

    /// A CLI line with a plain message.
    pub fn cli(&self, method: &str, message: impl Into<String>) {
        let parts = [Value::String(message.into())];
        self.print("CLI", method, &parts, None);
    }

    /// The run's failure (`ReferenceError: x is not defined`), once: on stderr as a CLI error
    /// line (in the kit layout among the logs), at every level but `none`.
    pub fn failure(&self, text: &str) {
        let parts = [Value::String(text.to_owned())];
        let stream = if crate::out::kit_layout() {
            out::log_stream()
        } else {
            out::Stream::Stderr
        };
        self.print_to(stream, "CLI", "error", &parts, None);
    }

    /// A CLI line whose one part is any JSON value (the versions block in JSON mode).
    pub fn cli_value(&self, method: &str, value: Value) {
        self.print("CLI", method, &[value], None);
    }

    /// The kit logger's `print()`: the text alone (no name or icon), unless the CLI is at
    /// `none`; in JSON mode an info line.
    pub fn plain(&self, text: &str) {
        if self.levels.cli == Level::None {
            return;
        }
        if self.json {
            self.print("CLI", "info", &[Value::String(text.to_owned())], None);
        } else {
            out::line(out::log_stream(), text);
        }
    }

    /// The kit logger's `break()`: an empty line, at every level and in JSON mode too.
    pub fn blank(&self) {
        out::write(out::log_stream(), "\n");
    }

    /// An engine log line: `message` is the JSON array of message parts.
    pub fn line(&self, name: &str, method: &str, message: &[Value], time_ns: Option<&str>) {
        self.print(name, method, message, time_ns);
    }

    fn print(&self, name: &str, method: &str, message: &[Value], time_ns: Option<&str>) {
        self.print_to(out::log_stream(), name, method, message, time_ns);
    }

    fn print_to(
        &self,
        stream: out::Stream,
        name: &str,
        method: &str,
        message: &[Value],
        time_ns: Option<&str>,
    ) {
        if !self.enabled(name, method) {
            return;
        }
        let text = if self.json {
            let level = if method == "log" { "info" } else { method };
            let time = time_ns.map(str::to_owned).unwrap_or_else(now_nanos);
            serde_json::json!({ "level": level, "name": name, "message": message, "time": time })
                .to_string()
        } else {
            let (icon, style) = icon(method);
            let text: Vec<String> = message.iter().map(render_part).collect();
            let name_style = Style::new().fg_color(Some(AnsiColor::Blue.into()));
            format!(
                "{name_style}[{name}]{name_style:#} {style}{icon}{style:#} {}",
                text.join(" ")
            )
        };
        out::line(stream, &text);
    }
}

fn icon(method: &str) -> (&'static str, Style) {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match method {
        "error" => ("✘", color(AnsiColor::Red)),
        "warn" => ("⚠", color(AnsiColor::Yellow)),
        "success" => ("✔", color(AnsiColor::Green)),
        "always" => ("♦", color(AnsiColor::Magenta)),
        "debug" => ("❯", color(AnsiColor::BrightBlack)),
        _ => ("ℹ", color(AnsiColor::Cyan)),
    }
}

/// Strings print as they are; everything else as 2-space JSON.
pub fn render_part(part: &Value) -> String {
    match part {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_show_job_debug_and_hide_cli_info() {
        let levels = Levels::parse(&[], Level::Default).unwrap();
        let logger = Logger::new(levels, false);
        assert!(logger.enabled("JOB", "debug"));
        assert!(!logger.enabled("CLI", "info"));
        assert!(logger.enabled("CLI", "success"));
        assert!(logger.enabled("R/T", "error"));
    }

    #[test]
    fn bare_none_silences_job_unless_job_is_given() {
        let levels = Levels::parse(&["none".into()], Level::Default).unwrap();
        assert_eq!(levels.job, Level::None);
        let levels = Levels::parse(&["none,job=info".into()], Level::Default).unwrap();
        assert_eq!(levels.job, Level::Info);
        assert_eq!(levels.cli, Level::None);
    }

    #[test]
    fn component_levels_and_errors() {
        let levels =
            Levels::parse(&["compiler=debug".into(), "rt=info".into()], Level::Default).unwrap();
        assert_eq!(levels.compiler, Level::Debug);
        assert_eq!(levels.runtime, Level::Info);
        assert!(Levels::parse(&["loud".into()], Level::Default).is_err());
        assert!(Levels::parse(&["db=debug".into()], Level::Default).is_err());
    }
}
