//! Where the CLI's output goes. Logs go to stdout, or to stderr when stdout carries a result
//! (`-O`, `compile` without `-o`) so that `openfn … -O | jq` reads only the result. Colours
//! follow the shared rule (`openfn_lexicon::term`: a terminal, `NO_COLOR`, `CLICOLOR_FORCE`),
//! per stream. A closed pipe (`openfn … | head -1`) ends the process as it ends Unix tools: by
//! SIGPIPE, quietly, never by a panic.
//!
//! `OPENFN_KIT_OUTPUT=1` keeps the kit CLI's layout instead: everything on stdout, the result
//! as `[CLI] ✔ Result:` lines and compile errors as the kit's report (the parity check uses it).

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anstream::{AutoStream, ColorChoice};

/// Logs go to stderr (a result owns stdout).
static LOGS_TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Lines are JSON (`--log-json`), the closing error line too.
static JSON: AtomicBool = AtomicBool::new(false);

/// Says whether lines are JSON (`--log-json`).
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// The command's closing error (`Error: …`), one line on stderr; with `--log-json` a JSON
/// log line (`{"level":"error","name":"CLI","message":[…],"time":…}`).
pub fn error_line(text: &str) {
    if JSON.load(Ordering::Relaxed) {
        let line = serde_json::json!({
            "level": "error",
            "name": "CLI",
            "message": [text],
            "time": openfn_lexicon::log::now_nanos(),
        });
        self::line(Stream::Stderr, &line.to_string());
    } else {
        self::line(Stream::Stderr, &format!("Error: {text}"));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Whether the kit CLI's output layout was asked for (`OPENFN_KIT_OUTPUT`).
pub fn kit_layout() -> bool {
    static KIT: OnceLock<bool> = OnceLock::new();
    *KIT.get_or_init(|| {
        std::env::var("OPENFN_KIT_OUTPUT").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
    })
}

/// Sends logs to stderr from now on: stdout is for the result alone. No-op in the kit layout.
pub fn result_owns_stdout() {
    if !kit_layout() {
        LOGS_TO_STDERR.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout carries only the result.
pub fn stdout_is_result() -> bool {
    LOGS_TO_STDERR.load(Ordering::Relaxed)
}

/// The stream log lines go to.
pub fn log_stream() -> Stream {
    if stdout_is_result() {
        Stream::Stderr
    } else {
        Stream::Stdout
    }
}

fn colour(stream: Stream) -> bool {
    static CHOICE: OnceLock<(bool, bool)> = OnceLock::new();
    let (out, err) = *CHOICE.get_or_init(|| {
        let env = |key: &str| std::env::var(key).ok();
        (
            openfn_lexicon::term::use_colour(env, io::stdout().is_terminal()),
            openfn_lexicon::term::use_colour(env, io::stderr().is_terminal()),
        )
    });
    match stream {
        Stream::Stdout => out,
        Stream::Stderr => err,
    }
}

/// Whether `stream` is a terminal.
pub fn is_terminal(stream: Stream) -> bool {
    match stream {
        Stream::Stdout => io::stdout().is_terminal(),
        Stream::Stderr => io::stderr().is_terminal(),
    }
}

/// Writes `text` (ANSI styles kept only where colours are on) to `stream`.
pub fn write(stream: Stream, text: &str) {
    let choice = if colour(stream) {
        ColorChoice::AlwaysAnsi
    } else {
        ColorChoice::Never
    };
    let result = match stream {
        Stream::Stdout => {
            let mut out = AutoStream::new(io::stdout().lock(), choice);
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = AutoStream::new(io::stderr().lock(), choice);
            err.write_all(text.as_bytes()).and_then(|()| err.flush())
        }
    };
    if let Err(e) = result
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        closed_pipe();
    }
}

/// Writes one line to `stream`.
pub fn line(stream: Stream, text: &str) {
    write(stream, &format!("{text}\n"));
}

/// The reader went away: end as a Unix tool does, killed by SIGPIPE (the shell shows 141).
#[allow(
    unsafe_code,
    reason = "restores SIGPIPE's default action (Rust ignores it) to die of it like a Unix tool"
)]
pub fn closed_pipe() -> ! {
    // SAFETY: `signal` with `SIG_DFL` installs no handler and `raise` takes no pointers; both
    // are async-signal-safe and touch no Rust state.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // not reached: SIGPIPE's default action ends the process
    std::process::exit(141)
}
