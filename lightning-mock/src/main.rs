//! The `lightning-mock` binary: starts the mock Lightning server, or prints fresh worker keys
//! with `lightning-mock gen-keys`.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory as _, Parser, Subcommand};
use openfn_lightning_mock::{Config, Error, Faults, KeySet, Server};

/// A Lightning stand-in for developing and testing OpenFn workers.
#[derive(Debug, Parser)]
#[command(name = "lightning-mock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// HTTP and WebSocket port.
    #[arg(short, long, default_value_t = 8888)]
    port: u16,
    /// Interface to listen on (0.0.0.0 to accept other hosts, e.g. in Docker).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Log level or tracing filter (error, warn, info, debug, trace).
    #[arg(short, long, default_value = "info")]
    log: String,
    /// Accept any worker: don't verify the worker token on connect (kit-mock behaviour).
    #[arg(long)]
    no_auth: bool,
    /// HS256 secret worker tokens must be signed with.
    #[arg(long, env = "WORKER_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Base64 of an RSA private key PEM: sign run tokens (RS256) and verify them on join.
    /// Without it runs get the placeholder token `x.y.z`.
    #[arg(long, env = "WORKER_RUNS_PRIVATE_KEY", hide_env_values = true)]
    runs_private_key: Option<String>,
    /// Roll a claim back to the queue when `run:<id>` isn't joined within this time.
    #[arg(long, default_value_t = 30_000)]
    claim_join_timeout_ms: u64,
    /// Run timeout for plans without `options.run_timeout_ms`.
    #[arg(long, default_value_t = 300_000)]
    run_timeout_ms: u64,
    /// Grace added to the run timeout before a silent run is marked lost.
    #[arg(long, default_value_t = 10_000)]
    lost_grace_ms: u64,
    /// How often the janitor checks claims and lost runs.
    #[arg(long, default_value_t = 1_000)]
    janitor_interval_ms: u64,
    /// At most one `work-available` push per worker per this window.
    #[arg(long, default_value_t = 500)]
    work_available_debounce_ms: u64,
    /// Push `work-available` only for `POST /run?wakeup=true` (kit mock), not on every enqueue.
    #[arg(long)]
    wakeup_only: bool,
    /// Largest WebSocket message in bytes; bigger ones close the socket with code 1009.
    #[arg(long, default_value_t = 11_000_000)]
    max_frame_size: usize,
    /// Close sockets silent (no heartbeat) for this long, like Phoenix; 0 never closes them.
    #[arg(long, default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Speak like the kit's TypeScript mock (chan_reply_<ref> replies, string push payloads,
    /// byte-array dataclips, unanswered heartbeats) to test a worker's tolerance.
    #[arg(long)]
    kit_quirks: bool,
    /// Don't seed credential `c` and dataclip `d`.
    #[arg(long)]
    no_seed: bool,
    /// Keep every run-channel frame a worker sent, with the reply's status, and show it as
    /// `wire` in `GET /runs/:id` (for `cargo xtask parity`).
    #[arg(long)]
    record_wire: bool,
    /// Fault: delay every WebSocket reply by this many milliseconds.
    #[arg(long)]
    reply_delay_ms: Option<u64>,
    /// Fault: reply with an error to the next N messages of EVENT (`EVENT` or `EVENT:N`,
    /// N defaults to 1; repeatable).
    #[arg(long, value_name = "EVENT[:N]")]
    reject: Vec<String>,
    /// Fault: handle the next N messages of EVENT but never reply (`EVENT` or `EVENT:N`;
    /// repeatable).
    #[arg(long, value_name = "EVENT[:N]")]
    silence: Vec<String>,
    /// Fault: drop the socket that handles the N-th message (once).
    #[arg(long, value_name = "N")]
    drop_after: Option<u64>,
    /// Fault: refuse WebSocket connections (HTTP 503) for this long after start.
    #[arg(long, value_name = "MS")]
    refuse_connections_ms: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a fresh WORKER_RUNS_PRIVATE_KEY, WORKER_SECRET and WORKER_LIGHTNING_PUBLIC_KEY
    /// (base64 PEM), like `mix lightning.gen_worker_keys`.
    GenKeys,
}

/// A usage error: clap's `error: …` line and usage, exit code 2.
fn usage_error(message: impl std::fmt::Display) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

fn parse_counts(flag: &str, specs: &[String]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for spec in specs {
        let (event, times) = match spec.rsplit_once(':') {
            Some((event, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                let times = n.parse::<u32>().unwrap_or_else(|e| {
                    usage_error(format!("invalid count in {flag} {spec:?}: {e}"))
                });
                (event, times)
            }
            _ => (spec.as_str(), 1),
        };
        if event.is_empty() {
            usage_error(format!(
                "{flag} needs an event name (EVENT or EVENT:N, e.g. claim:2), got {spec:?}"
            ));
        }
        counts.insert(event.to_owned(), times);
    }
    counts
}

/// The `--log` filter: a level, or a tracing filter (`info,openfn_lightning_mock=debug`). A
/// bare word that is no level (`--log bogus`, a valid but useless target filter) is refused.
fn log_filter(value: &str) -> tracing_subscriber::EnvFilter {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let hint = "use error, warn, info, debug, trace, off, or a tracing filter such as info,openfn_lightning_mock=debug";
    let directive = value.contains(['=', ',', '[', ':']);
    if !directive && !LEVELS.contains(&value.trim().to_ascii_lowercase().as_str()) {
        usage_error(format!("invalid value {value:?} for --log: {hint}"));
    }
    tracing_subscriber::EnvFilter::try_new(value)
        .unwrap_or_else(|e| usage_error(format!("invalid value {value:?} for --log: {e} ({hint})")))
}

/// SIGINT (ctrl-c) and SIGTERM, listened for from before the server starts (a signal that
/// comes earlier would kill the process without closing sockets).
struct StopSignals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|e| eprintln!("warning: cannot listen for {name}: {e}"))
                    .ok()
            };
            Self {
                int: listen(SignalKind::interrupt(), "SIGINT"),
                term: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the first signal; returns its name.
    async fn wait(mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.int) => "SIGINT",
                () = recv(&mut self.term) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

fn config(cli: Cli, secret: Option<String>) -> Config {
    Config {
        host: cli.host,
        port: cli.port,
        worker_secret: secret,
        verify_worker_tokens: !cli.no_auth,
        runs_private_key: cli.runs_private_key.filter(|k| !k.trim().is_empty()),
        claim_join_timeout: Duration::from_millis(cli.claim_join_timeout_ms),
        default_run_timeout_ms: cli.run_timeout_ms,
        lost_grace: Duration::from_millis(cli.lost_grace_ms),
        janitor_interval: Duration::from_millis(cli.janitor_interval_ms.max(1)),
        work_available_debounce: Duration::from_millis(cli.work_available_debounce_ms),
        push_on_enqueue: !cli.wakeup_only,
        max_frame_size: cli.max_frame_size,
        idle_timeout: (cli.idle_timeout_ms > 0).then(|| Duration::from_millis(cli.idle_timeout_ms)),
        kit_quirks: cli.kit_quirks,
        seed: !cli.no_seed,
        record_wire: cli.record_wire,
        faults: Faults {
            reply_delay_ms: cli.reply_delay_ms,
            reject: parse_counts("--reject", &cli.reject),
            silence: parse_counts("--silence", &cli.silence),
            drop_after: cli.drop_after,
            refuse_connections_ms: cli.refuse_connections_ms,
        },
    }
}

/// The one line printed when the server cannot start.
fn start_error(e: &Error, host: IpAddr, port: u16) -> String {
    match e {
        Error::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => format!(
            "port {port} on {host} is already in use (another lightning-mock?): stop it, or pick another port with --port <PORT> (--port 0 takes any free one)"
        ),
        Error::Bind { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            format!(
                "not allowed to listen on port {port} of {host}: ports below 1024 need privileges; pick another with --port <PORT>"
            )
        }
        Error::Bind { source, .. } => {
            format!("cannot listen on {host}:{port}: {source} (check --host and --port)")
        }
        Error::Key { .. } => format!("{e} (check --runs-private-key / WORKER_RUNS_PRIVATE_KEY)"),
        other => other.to_string(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::GenKeys) = cli.command {
        return match KeySet::generate() {
            Ok(keys) => {
                use std::io::Write as _;
                // A closed pipe (`gen-keys | head -1`) ends quietly, as Unix tools do.
                let _ = std::io::stdout().lock().write_all(keys.render().as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: generating keys: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let filter = log_filter(&cli.log);
    let secret = cli.secret.clone().filter(|s| !s.is_empty());
    if !cli.no_auth && secret.is_none() {
        usage_error(
            "WORKER_SECRET is not set: pass --secret (or set WORKER_SECRET; `lightning-mock gen-keys` makes one), or --no-auth to accept any worker",
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(openfn_lexicon::term::use_colour(
            |k| std::env::var(k).ok(),
            std::io::stdout().is_terminal(),
        ))
        // A closed stdout (`lightning-mock | head -3`) must not fill stderr with complaints;
        // the mock goes on serving and still stops cleanly on a signal.
        .log_internal_errors(false)
        .init();
    let signals = StopSignals::listen();
    let (host, port) = (cli.host, cli.port);
    let config = config(cli, secret);
    let signing = config.runs_private_key.is_some();
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {}", start_error(&e, host, port));
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "dashboard at {} ; worker socket at {}/websocket ; run tokens {}",
        server.url(),
        server.ws_url(),
        if signing {
            "signed RS256"
        } else {
            "x.y.z (no key)"
        }
    );
    let signal = signals.wait().await;
    tracing::info!("{signal}: closing worker sockets and shutting down");
    server.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
