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
pub use args::Args;

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
        let env = |k: &str| env(k).map(|v| v.trim().to_string());
        let flag = |v: &Option<String>| v.as_ref().map(|v| v.trim().to_string());
        let pick = |f: &Option<String>, e: &str| flag(f).or_else(|| env(e));
        let mut warnings = Vec::new();

        let port = match pick(&args.port, "WORKER_PORT") {
            Some(v) => {
                let n = parse_int(&v).ok_or_else(|| bad("port", &v))?;
                u16::try_from(n).map_err(|_| bad("port", &v))?
            }
            None => 2222,
        };

        let mut lightning = pick(&args.lightning, "WORKER_LIGHTNING_SERVICE_URL")
            .unwrap_or_else(|| DEFAULT_LIGHTNING.to_string());
        let is_mock_url = lightning == "mock";
        if is_mock_url {
            lightning = MOCK_LIGHTNING.to_string();
        }
        check_lightning_url(&lightning)?;

        let secret = match pick(&args.secret, "WORKER_SECRET") {
            Some(s) if !s.is_empty() => s,
            _ if is_mock_url => "abdefg".to_string(),
            _ if args.debug => {
                warnings.push(
                    "WORKER_SECRET is not set: signing the worker token with <secret>".into(),
                );
                "<secret>".to_string()
            }
            _ => {
                return Err(WorkerError::Config(
                    "WORKER_SECRET is not set: pass --secret <secret> or set WORKER_SECRET to the secret Lightning signs worker tokens with (`lightning-mock gen-keys` makes one; `-l mock` needs none)".into(),
                ));
            }
        };

        let capacity = pick(&args.capacity, "WORKER_CAPACITY");
        let workloops_text = pick(&args.workloops, "WORKER_WORKLOOPS");
        let workloops = match (capacity, workloops_text) {
            (Some(_), Some(_)) => {
                return Err(WorkerError::Config(
                    "capacity and workloops are mutually exclusive: set only one of --capacity/WORKER_CAPACITY and --workloops/WORKER_WORKLOOPS".into(),
                ));
            }
            (Some(c), None) => {
                let n = parse_int(&c)
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad("capacity", &c))?;
                vec![WorkloopSpec {
                    queues: vec!["manual".into(), "*".into()],
                    capacity: n as usize,
                }]
            }
            (None, Some(w)) => parse_workloops(&w, &mut warnings)?,
            (None, None) => vec![WorkloopSpec {
                queues: vec!["manual".into(), "*".into()],
                capacity: 5,
            }],
        };

        let (backoff_min, backoff_max) = match pick(&args.backoff, "WORKER_BACKOFF") {
            Some(b) => parse_backoff(&b)?,
            None => (Duration::from_secs(1), Duration::from_secs(10)),
        };

        let num =
            |f: &Option<String>, e: &str, name: &str, default: u64| -> Result<u64, WorkerError> {
                match pick(f, e) {
                    Some(v) => parse_int(&v).ok_or_else(|| bad(name, &v)),
                    None => Ok(default),
                }
            };
        let float = |f: &Option<String>, e: &str, name: &str| -> Result<Option<f64>, WorkerError> {
            match pick(f, e) {
                Some(v) => parse_float(&v).map(Some).ok_or_else(|| bad(name, &v)),
                None => Ok(None),
            }
        };
        let boolean = |f: &Option<String>, e: &str| -> bool {
            pick(f, e).map(|v| v == "true" || v == "1").unwrap_or(false)
        };
        // The kit ignores these flags (env only); we honour them, flag first.
        let message_timeout = match pick(&args.socket_timeout, "WORKER_SOCKET_TIMEOUT_SECONDS") {
            Some(v) => parse_int(&v).ok_or_else(|| bad("socket-timeout", &v))?,
            None => num(
                &args.message_timeout,
                "WORKER_MESSAGE_TIMEOUT_SECONDS",
                "message-timeout",
                30,
            )?,
        };

        let state_props_to_remove =
            pick(&args.state_props_to_remove, "WORKER_STATE_PROPS_TO_REMOVE")
                .map(|v| split_array(&v))
                .unwrap_or_else(|| vec!["configuration".into(), "response".into()]);

        let log_format = match pick(&args.log_format, "WORKER_LOG_FORMAT").as_deref() {
            None | Some("text") | Some("") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(bad("log-format", other)),
        };

        let collections_url =
            pick(&args.collections_url, "WORKER_COLLECTIONS_URL").filter(|s| !s.is_empty());
        if let Some(url) = &collections_url
            && !url::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        {
            return Err(WorkerError::Config(format!(
                "invalid value for collections-url (--collections-url / WORKER_COLLECTIONS_URL): {url:?}; expected an http:// or https:// URL, e.g. https://app.openfn.org/collections"
            )));
        }
        // Without a URL the collections version is cleared (§7.4).
        let collections_version = if collections_url.is_some() {
            pick(&args.collections_version, "WORKER_COLLECTIONS_VERSION").filter(|s| !s.is_empty())
        } else {
            None
        };

        let worker_name = env("WORKER_NAME")
            .filter(|s| !s.is_empty())
            .or_else(|| env("DEPLOYED_POD_NAME").filter(|s| !s.is_empty()));

        let config = Config {
            port,
            lightning,
            secret,
            lightning_public_key: pick(&args.lightning_public_key, "WORKER_LIGHTNING_PUBLIC_KEY")
                .filter(|s| !s.is_empty()),
            workloops,
            backoff_min,
            backoff_max,
            auto_loop: !args.no_loop,
            batch_logs: boolean(&args.batch_logs, "WORKER_BATCH_LOGS"),
            batch_interval: Duration::from_millis(num(
                &args.batch_interval,
                "WORKER_BATCH_INTERVAL",
                "batch-interval",
                10,
            )?),
            batch_limit: num(&args.batch_limit, "WORKER_BATCH_LIMIT", "batch-limit", 50)?.max(1)
                as usize,
            run_memory_mb: num(
                &args.run_memory,
                "WORKER_MAX_RUN_MEMORY_MB",
                "run-memory",
                500,
            )?,
            payload_limit_mb: float(
                &args.payload_memory,
                "WORKER_MAX_PAYLOAD_MB",
                "payload-memory",
            )?
            .unwrap_or(10.0),
            log_payload_limit_mb: float(
                &args.log_payload_memory,
                "WORKER_MAX_LOG_PAYLOAD_MB",
                "log-payload-memory",
            )?,
            max_run_duration: Duration::from_secs(num(
                &args.max_run_duration_seconds,
                "WORKER_MAX_RUN_DURATION_SECONDS",
                "max-run-duration-seconds",
                300,
            )?),
            message_timeout: Duration::from_secs(message_timeout),
            claim_timeout: Duration::from_secs(num(
                &args.claim_timeout,
                "WORKER_CLAIM_TIMEOUT_SECONDS",
                "claim-timeout",
                3600,
            )?),
            timeout_retry_count: num(
                &args.timeout_retry_count,
                "WORKER_TIMEOUT_RETRY_COUNT",
                "timeout-retry-count",
                10,
            )?,
            timeout_retry_delay: Duration::from_millis(num(
                &args.timeout_retry_delay,
                "WORKER_TIMEOUT_RETRY_DELAY_MS",
                "timeout-retry-delay",
                30_000,
            )?),
            refused_retry_count: num(
                &args.refused_retry_count,
                "WORKER_REFUSED_RETRY_COUNT",
                "refused-retry-count",
                3,
            )?,
            max_message_bytes: max_message_bytes(&args, &pick)?,
            collections_url,
            collections_version,
            repo_dir: pick(&args.repo_dir, "WORKER_REPO_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            monorepo_dir: pick(&args.monorepo_dir, "OPENFN_ADAPTORS_REPO")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            state_props_to_remove,
            log_level: log_level(pick(&args.log, "WORKER_LOG_LEVEL"))?,
            log_format,
            mock: args.mock,
            debug: args.debug,
            sentry_dsn: pick(&args.sentry_dsn, "WORKER_SENTRY_DSN"),
            sentry_env: pick(&args.sentry_env, "WORKER_SENTRY_ENV").unwrap_or_else(|| "dev".into()),
            engine_validation_timeout: Duration::from_millis(num(
                &args.engine_validation_timeout_ms,
                "WORKER_VALIDATION_TIMEOUT_MS",
                "engine-validation-timeout-ms",
                5000,
            )?),
            engine_validation_retries: num(
                &args.engine_validation_retries,
                "WORKER_VALIDATION_RETRIES",
                "engine-validation-retries",
                3,
            )?,
            profile: boolean(&args.profile, "WORKER_PROFILE"),
            profile_poll_interval: Duration::from_millis(num(
                &args.profile_poll_interval_ms,
                "WORKER_PROFILE_POLL_INTERVAL_MS",
                "profile-poll-interval-ms",
                10,
            )?),
            ca_file: pick(&args.ca_file, "WORKER_CA_FILE")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            templates: templates(&args, &pick, &num)?,
            https_proxy: env("HTTPS_PROXY")
                .or_else(|| env("https_proxy"))
                .filter(|s| !s.is_empty()),
            http_proxy: env("HTTP_PROXY")
                .or_else(|| env("http_proxy"))
                .filter(|s| !s.is_empty()),
            no_proxy: env("NO_PROXY")
                .or_else(|| env("no_proxy"))
                .map(|v| split_array(&v))
                .unwrap_or_default(),
            worker_name,
            warnings,
        };
        check_proxy(&config)?;
        Ok(config)
    }
}

/// The proxy the Lightning URL goes through (if any) must be a URL with a host, or every
/// connection attempt would fail.
fn check_proxy(config: &Config) -> Result<(), WorkerError> {
    let Some(proxy) = config.proxy_for_lightning() else {
        return Ok(());
    };
    if url::Url::parse(&proxy).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())) {
        return Ok(());
    }
    let var = if config.lightning.trim().starts_with("wss:") {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    Err(WorkerError::Config(format!(
        "invalid proxy {proxy:?} ({var}) for {}: expected a URL such as http://proxy:3128, or list the host in NO_PROXY",
        config.lightning
    )))
}

/// A Lightning URL the worker can never connect to fails at start-up, not on every retry.
fn check_lightning_url(text: &str) -> Result<(), WorkerError> {
    let fail = |why: String| {
        Err(WorkerError::Config(format!(
            "invalid lightning url (-l / WORKER_LIGHTNING_SERVICE_URL) {text:?}: {why}; use ws://host:port/worker (or wss://), e.g. -l ws://localhost:4000/worker, or -l mock"
        )))
    };
    match url::Url::parse(text) {
        Err(e) => fail(e.to_string()),
        Ok(_) if !text.contains("://") => fail("it has no scheme".into()),
        Ok(url) if url.scheme() != "ws" && url.scheme() != "wss" => {
            fail(format!("the scheme is {:?}, not ws or wss", url.scheme()))
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => fail("it has no host".into()),
        Ok(_) => Ok(()),
    }
}

/// `--max-message-mb` / `WORKER_MAX_MESSAGE_MB` in bytes (MiB, fractions allowed; at least
/// 1 KiB).
fn max_message_bytes(
    args: &Args,
    pick: &dyn Fn(&Option<String>, &str) -> Option<String>,
) -> Result<usize, WorkerError> {
    let Some(v) = pick(&args.max_message_mb, "WORKER_MAX_MESSAGE_MB") else {
        return Ok(DEFAULT_MAX_MESSAGE_BYTES);
    };
    let mb = parse_float(&v)
        .filter(|mb| *mb * 1024.0 >= 1.0)
        .ok_or_else(|| bad("max-message-mb", &v))?;
    Ok((mb * 1024.0 * 1024.0).min(usize::MAX as f64) as usize)
}

/// Reads a numeric option: flag, env var, name for errors, default.
type NumOption<'a> = dyn Fn(&Option<String>, &str, &str, u64) -> Result<u64, WorkerError> + 'a;

/// `--templates`, `--max-templates`, `--template-memory`, `--prewarm` (and their env vars).
fn templates(
    args: &Args,
    pick: &dyn Fn(&Option<String>, &str) -> Option<String>,
    num: &NumOption<'_>,
) -> Result<openfn_engine::TemplateConfig, WorkerError> {
    use openfn_engine::{TemplateConfig, TemplateMode};
    let defaults = TemplateConfig::default();
    let mode = match pick(&args.templates, "WORKER_TEMPLATES").as_deref() {
        None | Some("") => defaults.mode,
        Some("off" | "false") => TemplateMode::Off,
        Some("background" | "true") => TemplateMode::Background,
        Some("always") => TemplateMode::Always,
        Some(other) => return Err(bad("templates", other)),
    };
    Ok(TemplateConfig {
        mode,
        max_templates: num(
            &args.max_templates,
            "WORKER_MAX_TEMPLATES",
            "max-templates",
            defaults.max_templates as u64,
        )? as usize,
        max_memory_mb: num(
            &args.template_memory,
            "WORKER_TEMPLATE_MEMORY_MB",
            "template-memory",
            defaults.max_memory_mb,
        )?,
        prewarm: pick(&args.prewarm, "WORKER_PREWARM")
            .map(|v| split_array(&v))
            .unwrap_or_default(),
    })
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
