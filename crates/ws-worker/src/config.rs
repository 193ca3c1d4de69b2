//! Worker options (§6.1, §6.2 of the protocol spec): every kit flag and env var, with the same
//! names, defaults and parsing quirks, parsed once at the edge into a typed [`Config`].
//!
//! Precedence is flag > env var > default. Env numbers are parsed like JavaScript's `parseInt`,
//! env booleans are true only for `true` or `1`, env arrays are split on commas. Flag values are
//! trimmed, so `"-l ws://host/worker"` passed as one argv element works as it does with yargs.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::WorkerError;

mod args;
mod resolve;
pub use args::Args;
use resolve::{
    Source, batching, check_proxy, collections, engine_options, lightning_and_secret, limits,
    log_format, message_timeout, port, proxies, retries, workloops,
};

/// The default Lightning socket base URL.
pub const DEFAULT_LIGHTNING: &str = "ws://localhost:4000/worker";
/// The default message limit: 100 MiB, the `maxPayload` default of the `ws` package the kit's
/// worker connects with.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 100 * 1024 * 1024;
/// What `-l mock` expands to.
pub const MOCK_LIGHTNING: &str = "ws://localhost:8888/worker";

/// One workloop: an ordered queue preference chain and its slot count (§6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloopSpec {
    /// Queue names in priority order; `*` may only be last.
    pub queues: Vec<String>,
    /// Slots of this workloop (≥ 1).
    pub capacity: usize,
}

impl WorkloopSpec {
    /// The key used in the `worker:queue` join payload: the chain joined with `>`.
    pub fn key(&self) -> String {
        self.queues.join(">")
    }
}

/// Output format of the worker's own logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The resolved, typed worker configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    /// Socket base URL (without `/websocket`).
    pub lightning: String,
    /// HS256 secret for the worker token.
    pub secret: String,
    /// Base64 PEM public key; `None` skips run-token verification.
    pub lightning_public_key: Option<String>,
    pub workloops: Vec<WorkloopSpec>,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Claim automatically (false with `--no-loop`).
    pub auto_loop: bool,
    pub batch_logs: bool,
    pub batch_interval: Duration,
    pub batch_limit: usize,
    pub run_memory_mb: u64,
    pub payload_limit_mb: f64,
    /// `None` unless explicitly configured (the engine then falls back to the payload limit).
    pub log_payload_limit_mb: Option<f64>,
    pub max_run_duration: Duration,
    pub message_timeout: Duration,
    pub claim_timeout: Duration,
    /// Retry budget of one event push (`--timeout-retry-count`).
    pub timeout_retry_count: u64,
    /// Cap of the backoff between re-sends of one event (`--timeout-retry-delay`).
    pub timeout_retry_delay: Duration,
    /// Re-sends of an event Lightning refused before the refusal is final
    /// (`--refused-retry-count`).
    pub refused_retry_count: u64,
    /// Largest WebSocket message in bytes, either way (`--max-message-mb`).
    pub max_message_bytes: usize,
    pub collections_url: Option<String>,
    pub collections_version: Option<String>,
    pub repo_dir: Option<PathBuf>,
    pub monorepo_dir: Option<PathBuf>,
    pub state_props_to_remove: Vec<String>,
    pub log_level: String,
    pub log_format: LogFormat,
    pub mock: bool,
    pub debug: bool,
    pub sentry_dsn: Option<String>,
    pub sentry_env: String,
    pub engine_validation_timeout: Duration,
    pub engine_validation_retries: u64,
    pub profile: bool,
    pub profile_poll_interval: Duration,
    pub ca_file: Option<PathBuf>,
    /// Warm adaptor templates (`--templates`, `--max-templates`, `--template-memory`,
    /// `--prewarm`).
    pub templates: openfn_engine::TemplateConfig,
    /// Where runs execute (`--sandbox`, `WORKER_SANDBOX`).
    pub sandbox: openfn_engine::Sandbox,
    /// `HTTPS_PROXY`: HTTP CONNECT proxy for `wss://`.
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY`: HTTP CONNECT proxy for `ws://`.
    pub http_proxy: Option<String>,
    /// `NO_PROXY`: hosts (or domain suffixes, or `*`) reached directly.
    pub no_proxy: Vec<String>,
    /// `WORKER_NAME`, else `DEPLOYED_POD_NAME`; sent as `worker_name` in claims.
    pub worker_name: Option<String>,
    /// Warnings found while parsing (duplicate queues, empty secret…), logged at start-up.
    pub warnings: Vec<String>,
}

impl Config {
    /// The proxy to reach the Lightning URL through, if any (`HTTPS_PROXY` for `wss://`,
    /// `HTTP_PROXY` for `ws://`, unless `NO_PROXY` matches the host).
    pub fn proxy_for_lightning(&self) -> Option<String> {
        let url = url::Url::parse(self.lightning.trim()).ok()?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let bypass = self.no_proxy.iter().any(|n| {
            let n = n.trim_start_matches('.').to_ascii_lowercase();
            n == "*" || host == n || host.ends_with(&format!(".{n}"))
        });
        if bypass {
            return None;
        }
        match url.scheme() {
            "wss" => self.https_proxy.clone(),
            _ => self.http_proxy.clone(),
        }
    }

    /// Total slots: the sum over workloops (the engine's `maxWorkers`).
    pub fn capacity(&self) -> usize {
        self.workloops.iter().map(|w| w.capacity).sum()
    }

    /// Parses argv (including the program name) against the process environment.
    pub fn from_env_and_args<I, T>(args: I) -> Result<Config, WorkerError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args = Args::try_parse_from(args).map_err(|e| WorkerError::Cli(e.to_string()))?;
        Config::resolve(args, &|k| std::env::var(k).ok())
    }

    /// Resolves parsed flags against an environment lookup, applying defaults and validation.
    pub fn resolve(
        args: Args,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, WorkerError> {
        let src = Source { env };
        let mut warnings = Vec::new();
        // Options are read (and fail) in this order.
        let port = port(&args, &src)?;
        let (lightning, secret) = lightning_and_secret(&args, &src, &mut warnings)?;
        let workloops = workloops(&args, &src, &mut warnings)?;
        let (backoff_min, backoff_max) = match src.pick(&args.backoff, "WORKER_BACKOFF") {
            Some(b) => parse_backoff(&b)?,
            None => (Duration::from_secs(1), Duration::from_secs(10)),
        };
        let message_timeout = message_timeout(&args, &src)?;
        let state_props_to_remove = src
            .pick(&args.state_props_to_remove, "WORKER_STATE_PROPS_TO_REMOVE")
            .map(|v| split_array(&v))
            .unwrap_or_else(|| vec!["configuration".into(), "response".into()]);
        let log_format = log_format(&args, &src)?;
        let (collections_url, collections_version) = collections(&args, &src)?;
        let worker_name = src
            .var("WORKER_NAME")
            .filter(|s| !s.is_empty())
            .or_else(|| src.var("DEPLOYED_POD_NAME").filter(|s| !s.is_empty()));
        let batching = batching(&args, &src)?;
        let limits = limits(&args, &src)?;
        let retries = retries(&args, &src)?;
        let log_level = log_level(src.pick(&args.log, "WORKER_LOG_LEVEL"))?;
        let engine = engine_options(&args, &src)?;
        let proxies = proxies(&src);

        let config = Config {
            port,
            lightning,
            secret,
            lightning_public_key: src
                .pick(&args.lightning_public_key, "WORKER_LIGHTNING_PUBLIC_KEY")
                .filter(|s| !s.is_empty()),
            workloops,
            backoff_min,
            backoff_max,
            auto_loop: !args.no_loop,
            batch_logs: batching.batch_logs,
            batch_interval: batching.batch_interval,
            batch_limit: batching.batch_limit,
            run_memory_mb: limits.run_memory_mb,
            payload_limit_mb: limits.payload_limit_mb,
            log_payload_limit_mb: limits.log_payload_limit_mb,
            max_run_duration: limits.max_run_duration,
            message_timeout: Duration::from_secs(message_timeout),
            claim_timeout: retries.claim_timeout,
            timeout_retry_count: retries.timeout_retry_count,
            timeout_retry_delay: retries.timeout_retry_delay,
            refused_retry_count: retries.refused_retry_count,
            max_message_bytes: retries.max_message_bytes,
            collections_url,
            collections_version,
            repo_dir: src
                .pick(&args.repo_dir, "WORKER_REPO_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            monorepo_dir: src
                .pick(&args.monorepo_dir, "OPENFN_ADAPTORS_REPO")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            state_props_to_remove,
            log_level,
            log_format,
            mock: args.mock,
            debug: args.debug,
            sentry_dsn: src.pick(&args.sentry_dsn, "WORKER_SENTRY_DSN"),
            sentry_env: src
                .pick(&args.sentry_env, "WORKER_SENTRY_ENV")
                .unwrap_or_else(|| "dev".into()),
            engine_validation_timeout: engine.engine_validation_timeout,
            engine_validation_retries: engine.engine_validation_retries,
            profile: engine.profile,
            profile_poll_interval: engine.profile_poll_interval,
            ca_file: src
                .pick(&args.ca_file, "WORKER_CA_FILE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            templates: engine.templates,
            sandbox: engine.sandbox,
            https_proxy: proxies.https_proxy,
            http_proxy: proxies.http_proxy,
            no_proxy: proxies.no_proxy,
            worker_name,
            warnings,
        };
        check_proxy(&config)?;
        Ok(config)
    }
}

/// The log levels the worker takes (the kit logger's, plus warn, error and trace).
pub const LOG_LEVELS: [&str; 8] = [
    "none", "error", "warn", "default", "success", "info", "debug", "trace",
];

/// `--log` / `WORKER_LOG_LEVEL`: one of [`LOG_LEVELS`], default `debug`.
fn log_level(value: Option<String>) -> Result<String, WorkerError> {
    match value {
        None => Ok("debug".into()),
        Some(v) if LOG_LEVELS.contains(&v.as_str()) => Ok(v),
        Some(v) => Err(WorkerError::Config(format!(
            "invalid value for log (--log / WORKER_LOG_LEVEL): {v:?}; expected one of {}",
            LOG_LEVELS.join(", ")
        ))),
    }
}

/// Per option: its env var and what it takes, for error messages.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("port", "WORKER_PORT", "a port number from 0 to 65535"),
    (
        "capacity",
        "WORKER_CAPACITY",
        "a whole number of slots, 1 or more (e.g. 5)",
    ),
    (
        "backoff",
        "WORKER_BACKOFF",
        "`min/max` in seconds, e.g. 1/10 or 0.5/30",
    ),
    (
        "batch-interval",
        "WORKER_BATCH_INTERVAL",
        "a whole number of milliseconds",
    ),
    (
        "batch-limit",
        "WORKER_BATCH_LIMIT",
        "a whole number of log lines",
    ),
    (
        "run-memory",
        "WORKER_MAX_RUN_MEMORY_MB",
        "a whole number of MB (e.g. 500)",
    ),
    (
        "payload-memory",
        "WORKER_MAX_PAYLOAD_MB",
        "a number of MB (e.g. 10 or 0.5)",
    ),
    (
        "log-payload-memory",
        "WORKER_MAX_LOG_PAYLOAD_MB",
        "a number of MB (e.g. 1 or 0.5)",
    ),
    (
        "max-run-duration-seconds",
        "WORKER_MAX_RUN_DURATION_SECONDS",
        "a whole number of seconds",
    ),
    (
        "message-timeout",
        "WORKER_MESSAGE_TIMEOUT_SECONDS",
        "a whole number of seconds",
    ),
    (
        "socket-timeout",
        "WORKER_SOCKET_TIMEOUT_SECONDS",
        "a whole number of seconds",
    ),
    (
        "claim-timeout",
        "WORKER_CLAIM_TIMEOUT_SECONDS",
        "a whole number of seconds",
    ),
    (
        "timeout-retry-count",
        "WORKER_TIMEOUT_RETRY_COUNT",
        "a whole number of retries",
    ),
    (
        "timeout-retry-delay",
        "WORKER_TIMEOUT_RETRY_DELAY_MS",
        "a whole number of milliseconds",
    ),
    (
        "refused-retry-count",
        "WORKER_REFUSED_RETRY_COUNT",
        "a whole number of retries",
    ),
    (
        "max-message-mb",
        "WORKER_MAX_MESSAGE_MB",
        "a number of MiB, at least 0.001 (e.g. 100)",
    ),
    ("log-format", "WORKER_LOG_FORMAT", "text or json"),
    ("templates", "WORKER_TEMPLATES", "background, always or off"),
    ("sandbox", "WORKER_SANDBOX", "native or wasm"),
    (
        "max-templates",
        "WORKER_MAX_TEMPLATES",
        "a whole number of templates",
    ),
    (
        "template-memory",
        "WORKER_TEMPLATE_MEMORY_MB",
        "a whole number of MB",
    ),
    (
        "engine-validation-timeout-ms",
        "WORKER_VALIDATION_TIMEOUT_MS",
        "a whole number of milliseconds",
    ),
    (
        "engine-validation-retries",
        "WORKER_VALIDATION_RETRIES",
        "a whole number of retries",
    ),
    (
        "profile-poll-interval-ms",
        "WORKER_PROFILE_POLL_INTERVAL_MS",
        "a whole number of milliseconds",
    ),
];

/// `invalid value for <name> (--<name> / <ENV>): "<value>"; expected <what it takes>`.
fn bad(name: &str, value: &str) -> WorkerError {
    match EXPECTED.iter().find(|(n, _, _)| *n == name) {
        Some((_, env, expected)) => WorkerError::Config(format!(
            "invalid value for {name} (--{name} / {env}): {value:?}; expected {expected}"
        )),
        None => WorkerError::Config(format!("invalid value for {name}: {value:?}")),
    }
}

/// JavaScript `parseInt` on a trimmed string: leading digits, anything after ignored.
fn parse_int(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// JavaScript `parseFloat`-like parse: the longest numeric prefix.
fn parse_float(s: &str) -> Option<f64> {
    let s = s.trim();
    let end = s
        .char_indices()
        .take_while(|(i, c)| c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+')))
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    s[..end]
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
}

fn split_array(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Parses `min/max` seconds, decimals allowed.
pub fn parse_backoff(s: &str) -> Result<(Duration, Duration), WorkerError> {
    let (min, max) = s.split_once('/').ok_or_else(|| bad("backoff", s))?;
    let secs = |v: &str| -> Result<Duration, WorkerError> {
        let f: f64 = v.trim().parse().map_err(|_| bad("backoff", s))?;
        if !f.is_finite() || f < 0.0 {
            return Err(bad("backoff", s));
        }
        Ok(Duration::from_secs_f64(f))
    };
    let (min, max) = (secs(min)?, secs(max)?);
    if max < min {
        return Err(WorkerError::Config(format!(
            "invalid value for backoff (--backoff / WORKER_BACKOFF): {s:?}: max is below min; expected `min/max` in seconds, e.g. 1/10"
        )));
    }
    Ok((min, max))
}

/// Parses a `--workloops` string (§6.2). Duplicate queue names and identical chains only warn.
pub fn parse_workloops(
    s: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkloopSpec>, WorkerError> {
    let err = |m: String| WorkerError::Config(format!("invalid workloops {s:?}: {m}"));
    let mut out: Vec<WorkloopSpec> = Vec::new();
    for group in s.split_whitespace() {
        let (chain, count) = group
            .rsplit_once(':')
            .ok_or_else(|| err(format!("group {group:?} has no `:<slots>`")))?;
        if count.is_empty() || !count.chars().all(|c| c.is_ascii_digit()) {
            return Err(err(format!(
                "slot count {count:?} of {group:?} is not a positive integer"
            )));
        }
        let capacity: usize = count.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            err(format!(
                "slot count {count:?} of {group:?} is not a positive integer"
            ))
        })?;
        let queues: Vec<String> = chain.split('>').map(str::to_string).collect();
        for (i, q) in queues.iter().enumerate() {
            if q.is_empty() {
                return Err(err(format!("empty queue name in {group:?}")));
            }
            if q == "*" {
                if i != queues.len() - 1 {
                    return Err(err(format!("`*` must be the last queue in {group:?}")));
                }
            } else if !q.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(format!(
                    "queue name {q:?} must match [A-Za-z0-9_]+ or be `*`"
                )));
            }
            if queues[..i].contains(q) {
                warnings.push(format!(
                    "workloop {group:?} lists queue {q:?} more than once"
                ));
            }
        }
        let spec = WorkloopSpec { queues, capacity };
        if out.iter().any(|o| o.queues == spec.queues) {
            warnings.push(format!(
                "workloop chain {:?} appears more than once",
                spec.key()
            ));
        }
        out.push(spec);
    }
    if out.is_empty() {
        return Err(err("no workloops given".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
