//! The `lightning-mock` binary: starts the mock Lightning server, or prints fresh worker keys
//! with `lightning-mock gen-keys`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use openfn_lightning_mock::{Config, Faults, KeySet, Server};

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

fn parse_counts(flag: &str, specs: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut reject = BTreeMap::new();
    for spec in specs {
        let (event, times) = match spec.rsplit_once(':') {
            Some((event, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => (
                event,
                n.parse::<u32>().with_context(|| format!("{flag} count"))?,
            ),
            _ => (spec.as_str(), 1),
        };
        if event.is_empty() {
            bail!("{flag} needs an event name, got {spec:?}");
        }
        reject.insert(event.to_owned(), times);
    }
    Ok(reject)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::GenKeys) = cli.command {
        let keys = KeySet::generate().context("generating keys")?;
        print!("{}", keys.render());
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .with_context(|| format!("invalid --log {:?}", cli.log))?,
        )
        .init();
    let secret = cli.secret.filter(|s| !s.is_empty());
    if !cli.no_auth && secret.is_none() {
        bail!(
            "WORKER_SECRET is not set: pass --secret (or set WORKER_SECRET), or --no-auth to accept any worker"
        );
    }
    let config = Config {
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
            reject: parse_counts("--reject", &cli.reject)?,
            silence: parse_counts("--silence", &cli.silence)?,
            drop_after: cli.drop_after,
            refuse_connections_ms: cli.refuse_connections_ms,
        },
    };
    let signing = config.runs_private_key.is_some();
    let server = Server::start(config).await.context("starting the server")?;
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
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}
