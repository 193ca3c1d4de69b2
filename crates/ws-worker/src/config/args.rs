//! The raw command line and `--help`.
//!
//! Every value is kept as text and resolved against the environment in
//! [`super::Config::resolve`], so flag and env parsing share one code path (with the kit's
//! quirks). Clap therefore neither reads the env vars nor fills in defaults: each option's help
//! names its env var and default in clap's own `[env: …] [default: …]` form, and
//! `tests/cli_help.rs` keeps the text true (an insta snapshot, and the README's table).

use clap::Parser;

/// What `--help` prints after the options: the env vars without a flag, and examples.
const AFTER_HELP: &str = "\
Environment (no flag):
  WORKER_NAME            name sent with every claim (else DEPLOYED_POD_NAME)
  DEPLOYED_POD_NAME      name sent with every claim when WORKER_NAME is not set
  HTTPS_PROXY            HTTP CONNECT proxy for wss:// Lightning URLs (or https_proxy)
  HTTP_PROXY             HTTP CONNECT proxy for ws:// Lightning URLs (or http_proxy)
  NO_PROXY               hosts reached directly, comma-separated, `*` for all (or no_proxy)
  NPM_CONFIG_REGISTRY    registry adaptors are installed from (else ~/.npmrc, else npmjs.org)
  WORKER_LOG_FILTER      tracing filter used instead of --log (e.g. openfn_ws_worker=trace)
  NO_COLOR               no colours in the log, even on a terminal
  CLICOLOR_FORCE         colours in the log even when it is not a terminal

Examples:
  ws-worker -l mock                                    claim from lightning-mock on :8888
  ws-worker -l ws://lightning:4000/worker -s \"$WORKER_SECRET\" --capacity 10
  ws-worker -l mock --workloops \"fast_lane:1 manual>*:4\"
  ws-worker -l mock --no-loop                          claim only on POST /claim
  ws-worker -l mock --log info --log-format json       one JSON object per log line
  lightning-mock gen-keys                              make a WORKER_SECRET and run-token keys";

/// Raw command line: exactly the kit's flags, plus a few of our own.
#[derive(Debug, Parser, Default)]
#[command(
    name = "ws-worker",
    version,
    about = "OpenFn worker: claims runs from Lightning and executes them",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Args {
    /// HTTP port (/livez, /readyz, /metrics, POST /claim) [env: WORKER_PORT] [default: 2222]
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<String>,
    /// Lightning's worker socket: ws://host:port/worker or wss://…; `mock` is
    /// ws://localhost:8888/worker [env: WORKER_LIGHTNING_SERVICE_URL] [default:
    /// ws://localhost:4000/worker]
    #[arg(
        short = 'l',
        long,
        visible_alias = "lightning-service-url",
        allow_hyphen_values = true,
        value_name = "URL"
    )]
    pub lightning: Option<String>,
    /// HS256 secret the worker signs its token with, shared with Lightning (`lightning-mock
    /// gen-keys` makes one; `-l mock` needs none) [env: WORKER_SECRET]
    #[arg(short = 's', long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// Base64 PEM public key that run tokens are verified with; without it they are not checked
    /// [env: WORKER_LIGHTNING_PUBLIC_KEY]
    #[arg(long, value_name = "KEY")]
    pub lightning_public_key: Option<String>,
    /// Slots of the single `manual>*` workloop (not with --workloops) [env: WORKER_CAPACITY]
    /// [default: 5]
    #[arg(long, value_name = "SLOTS")]
    pub capacity: Option<String>,
    /// Workloops: space-separated `queue>queue>*:slots` groups, e.g. "fast_lane:1 manual>*:4"
    /// [env: WORKER_WORKLOOPS] [default: manual>*:5]
    #[arg(long, value_name = "LOOPS")]
    pub workloops: Option<String>,
    /// Claim backoff `min/max` in seconds, decimals allowed [env: WORKER_BACKOFF] [default:
    /// 1/10]
    #[arg(long, value_name = "MIN/MAX")]
    pub backoff: Option<String>,
    /// Claim automatically (the default)
    #[arg(long = "loop", overrides_with = "no_loop")]
    pub loop_: bool,
    /// Don't claim automatically: claim only on POST /claim
    #[arg(long = "no-loop", overrides_with = "loop_")]
    pub no_loop: bool,
    /// Send log lines in run:batch_logs messages; alone it means true (`true` or `1` is true,
    /// anything else false) [env: WORKER_BATCH_LOGS] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub batch_logs: Option<String>,
    /// Batch flush interval, ms [env: WORKER_BATCH_INTERVAL] [default: 10]
    #[arg(long, value_name = "MS")]
    pub batch_interval: Option<String>,
    /// Most log lines per batch [env: WORKER_BATCH_LIMIT] [default: 50]
    #[arg(long, value_name = "LINES")]
    pub batch_limit: Option<String>,
    /// Memory limit of a run, MB, unless the run sets its own [env: WORKER_MAX_RUN_MEMORY_MB]
    /// [default: 500]
    #[arg(long, value_name = "MB")]
    pub run_memory: Option<String>,
    /// Largest dataclip sent to Lightning, MB, unless the run sets its own [env:
    /// WORKER_MAX_PAYLOAD_MB] [default: 10]
    #[arg(long, value_name = "MB")]
    pub payload_memory: Option<String>,
    /// Largest log line sent to Lightning, MB [env: WORKER_MAX_LOG_PAYLOAD_MB] [default: the
    /// payload limit]
    #[arg(long, value_name = "MB")]
    pub log_payload_memory: Option<String>,
    /// Time limit of a run, seconds, unless the run sets its own [env:
    /// WORKER_MAX_RUN_DURATION_SECONDS] [default: 300]
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub max_run_duration_seconds: Option<String>,
    /// How long to wait for Lightning's reply to a message, seconds [env:
    /// WORKER_MESSAGE_TIMEOUT_SECONDS] [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub message_timeout: Option<String>,
    /// Claim and queue-join timeout, seconds [env: WORKER_CLAIM_TIMEOUT_SECONDS] [default: 3600]
    #[arg(long, value_name = "SECONDS")]
    pub claim_timeout: Option<String>,
    /// Deprecated: overrides the message timeout (env WORKER_SOCKET_TIMEOUT_SECONDS)
    #[arg(long, hide = true)]
    pub socket_timeout: Option<String>,
    /// Retry budget of one event: timed-out waits and re-sends after dropped connections before
    /// it is given up [env: WORKER_TIMEOUT_RETRY_COUNT] [default: 10]
    #[arg(long, value_name = "N")]
    pub timeout_retry_count: Option<String>,
    /// Cap of the backoff between re-sends of an event, ms (it starts at 100 ms and doubles)
    /// [env: WORKER_TIMEOUT_RETRY_DELAY_MS] [default: 30000]
    #[arg(long, value_name = "MS")]
    pub timeout_retry_delay: Option<String>,
    /// Times an event Lightning refused (an `error` reply) is sent again before the refusal is
    /// final; 0 is the kit's behaviour [env: WORKER_REFUSED_RETRY_COUNT] [default: 3]
    #[arg(long, value_name = "N")]
    pub refused_retry_count: Option<String>,
    /// Largest WebSocket message sent or accepted, MiB; a bigger reply fails only the run that
    /// asked for it [env: WORKER_MAX_MESSAGE_MB] [default: 100]
    #[arg(long, value_name = "MB")]
    pub max_message_mb: Option<String>,
    /// Collections API URL; enables collections [env: WORKER_COLLECTIONS_URL]
    #[arg(short = 'c', long, value_name = "URL")]
    pub collections_url: Option<String>,
    /// Collections adaptor version, resolved once at start-up when not exact [env:
    /// WORKER_COLLECTIONS_VERSION] [default: latest]
    #[arg(long, value_name = "VERSION")]
    pub collections_version: Option<String>,
    /// Where adaptors are installed [env: WORKER_REPO_DIR] [default: ~/.openfn/worker/repo]
    #[arg(short = 'd', long, value_name = "DIR")]
    pub repo_dir: Option<String>,
    /// Adaptors monorepo that `@local` adaptors come from [env: OPENFN_ADAPTORS_REPO]
    #[arg(short = 'm', long, value_name = "DIR")]
    pub monorepo_dir: Option<String>,
    /// State keys removed from each step's output, comma-separated [env:
    /// WORKER_STATE_PROPS_TO_REMOVE] [default: configuration,response]
    #[arg(long, value_name = "KEYS")]
    pub state_props_to_remove: Option<String>,
    /// Log level [env: WORKER_LOG_LEVEL] [default: debug] [possible values: none, error, warn,
    /// default, success, info, debug, trace]
    #[arg(long, value_name = "LEVEL")]
    pub log: Option<String>,
    /// Log format [env: WORKER_LOG_FORMAT] [default: text] [possible values: text, json]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Use the built-in mock engine: no job code runs (a demo and test facility)
    #[arg(long)]
    pub mock: bool,
    /// Allow running without a secret
    #[arg(long, hide = true)]
    pub debug: bool,
    /// Sentry DSN; accepted, not used [env: WORKER_SENTRY_DSN]
    #[arg(long, visible_alias = "dsn", value_name = "DSN")]
    pub sentry_dsn: Option<String>,
    /// Sentry environment; accepted, not used [env: WORKER_SENTRY_ENV] [default: dev]
    #[arg(long, value_name = "ENV")]
    pub sentry_env: Option<String>,
    /// Engine self-check timeout, ms; accepted, not used [env: WORKER_VALIDATION_TIMEOUT_MS]
    /// [default: 5000]
    #[arg(long, value_name = "MS")]
    pub engine_validation_timeout_ms: Option<String>,
    /// Engine self-check retries; accepted, not used [env: WORKER_VALIDATION_RETRIES] [default:
    /// 3]
    #[arg(long, value_name = "N")]
    pub engine_validation_retries: Option<String>,
    /// Report each step's peak memory as `mem.peak` on step:complete; alone it means true
    /// (`true` or `1` is true, anything else false) [env: WORKER_PROFILE] [default: false]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub profile: Option<String>,
    /// Profile poll interval, ms; accepted, not needed (the peak is the OS's high-water mark)
    /// [env: WORKER_PROFILE_POLL_INTERVAL_MS] [default: 10]
    #[arg(long, value_name = "MS")]
    pub profile_poll_interval_ms: Option<String>,
    /// Extra CA certificate file (PEM) trusted for wss:// [env: WORKER_CA_FILE]
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<String>,
    /// Warm adaptor templates: `background` (a new adaptor set gets one after its first run),
    /// `always` (a new set waits for its template) or `off` [env: WORKER_TEMPLATES] [default:
    /// background where fork exists, else off] [possible values: background, always, off]
    #[arg(long, value_name = "MODE")]
    pub templates: Option<String>,
    /// Most templates kept, least recently used retired first [env: WORKER_MAX_TEMPLATES]
    /// [default: 4]
    #[arg(long, value_name = "N")]
    pub max_templates: Option<String>,
    /// Memory the templates may hold together, MB [env: WORKER_TEMPLATE_MEMORY_MB] [default:
    /// 1024]
    #[arg(long, value_name = "MB")]
    pub template_memory: Option<String>,
    /// Adaptors (`name@version`, comma-separated) whose templates start with the worker [env:
    /// WORKER_PREWARM]
    #[arg(long, value_name = "ADAPTORS")]
    pub prewarm: Option<String>,
    /// Where runs execute: `native` (QuickJS in a child process) or `wasm` (QuickJS compiled to
    /// WebAssembly, run by wasmtime in a child process; needs a build with the `wasm` feature)
    /// [env: WORKER_SANDBOX] [default: native] [possible values: native, wasm]
    #[arg(long, value_name = "TIER")]
    pub sandbox: Option<String>,
}
