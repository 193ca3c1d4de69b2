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

/// The default Lightning socket base URL.
pub const DEFAULT_LIGHTNING: &str = "ws://localhost:4000/worker";
/// What `-l mock` expands to.
pub const MOCK_LIGHTNING: &str = "ws://localhost:8888/worker";

/// Raw command line, exactly the kit's flags. Every value is kept as text and resolved against
/// the environment in [`Config::resolve`], so flag and env parsing share one code path.
#[derive(Debug, Parser, Default)]
#[command(
    name = "ws-worker",
    version,
    about = "OpenFn worker: claims runs from Lightning and executes them"
)]
pub struct Args {
    /// HTTP port (env WORKER_PORT, default 2222)
    #[arg(short = 'p', long)]
    pub port: Option<String>,
    /// Lightning socket base URL; `mock` means ws://localhost:8888/worker (env WORKER_LIGHTNING_SERVICE_URL)
    #[arg(
        short = 'l',
        long,
        visible_alias = "lightning-service-url",
        allow_hyphen_values = true
    )]
    pub lightning: Option<String>,
    /// HS256 worker secret (env WORKER_SECRET)
    #[arg(short = 's', long)]
    pub secret: Option<String>,
    /// Base64 PEM public key used to verify run tokens (env WORKER_LIGHTNING_PUBLIC_KEY)
    #[arg(long)]
    pub lightning_public_key: Option<String>,
    /// Total slots of a single `manual>*` workloop (env WORKER_CAPACITY, default 5)
    #[arg(long)]
    pub capacity: Option<String>,
    /// Workloops, e.g. "fast_lane:1 manual>*:4" (env WORKER_WORKLOOPS)
    #[arg(long)]
    pub workloops: Option<String>,
    /// Claim backoff `min/max` in seconds (env WORKER_BACKOFF, default 1/10)
    #[arg(long)]
    pub backoff: Option<String>,
    /// Claim automatically (default)
    #[arg(long = "loop", overrides_with = "no_loop")]
    pub loop_: bool,
    /// Don't claim automatically; use POST /claim
    #[arg(long = "no-loop", overrides_with = "loop_")]
    pub no_loop: bool,
    /// Send logs with run:batch_logs (env WORKER_BATCH_LOGS)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub batch_logs: Option<String>,
    /// Batch flush interval in ms (env WORKER_BATCH_INTERVAL, default 10)
    #[arg(long)]
    pub batch_interval: Option<String>,
    /// Max log lines per batch (env WORKER_BATCH_LIMIT, default 50)
    #[arg(long)]
    pub batch_limit: Option<String>,
    /// Default run memory limit in MB (env WORKER_MAX_RUN_MEMORY_MB, default 500)
    #[arg(long)]
    pub run_memory: Option<String>,
    /// Default payload limit in MB (env WORKER_MAX_PAYLOAD_MB, default 10)
    #[arg(long)]
    pub payload_memory: Option<String>,
    /// Log payload limit in MB (env WORKER_MAX_LOG_PAYLOAD_MB)
    #[arg(long)]
    pub log_payload_memory: Option<String>,
    /// Default run timeout in seconds (env WORKER_MAX_RUN_DURATION_SECONDS, default 300)
    #[arg(short = 't', long)]
    pub max_run_duration_seconds: Option<String>,
    /// Push timeout in seconds (env WORKER_MESSAGE_TIMEOUT_SECONDS, default 30)
    #[arg(long)]
    pub message_timeout: Option<String>,
    /// Claim and queue timeout in seconds (env WORKER_CLAIM_TIMEOUT_SECONDS, default 3600)
    #[arg(long)]
    pub claim_timeout: Option<String>,
    /// Deprecated: overrides the message timeout (env WORKER_SOCKET_TIMEOUT_SECONDS)
    #[arg(long, hide = true)]
    pub socket_timeout: Option<String>,
    /// Unused, kept for compatibility (env WORKER_TIMEOUT_RETRY_COUNT)
    #[arg(long)]
    pub timeout_retry_count: Option<String>,
    /// Unused, kept for compatibility (env WORKER_TIMEOUT_RETRY_DELAY_MS)
    #[arg(long)]
    pub timeout_retry_delay: Option<String>,
    /// Collections API URL; enables collections (env WORKER_COLLECTIONS_URL)
    #[arg(short = 'c', long)]
    pub collections_url: Option<String>,
    /// Collections adaptor version (env WORKER_COLLECTIONS_VERSION)
    #[arg(long)]
    pub collections_version: Option<String>,
    /// Adaptor install dir (env WORKER_REPO_DIR)
    #[arg(short = 'd', long)]
    pub repo_dir: Option<String>,
    /// Adaptors monorepo for @local adaptors (env OPENFN_ADAPTORS_REPO)
    #[arg(short = 'm', long)]
    pub monorepo_dir: Option<String>,
    /// State keys removed from each step's output (env WORKER_STATE_PROPS_TO_REMOVE)
    #[arg(long)]
    pub state_props_to_remove: Option<String>,
    /// Log level (env WORKER_LOG_LEVEL, default debug)
    #[arg(long)]
    pub log: Option<String>,
    /// Log format: `text` or `json` (env WORKER_LOG_FORMAT, default text)
    #[arg(long)]
    pub log_format: Option<String>,
    /// Use the built-in mock engine
    #[arg(long)]
    pub mock: bool,
    /// Allow running without a secret
    #[arg(long, hide = true)]
    pub debug: bool,
    /// Sentry DSN (env WORKER_SENTRY_DSN); accepted, not used
    #[arg(long, visible_alias = "dsn")]
    pub sentry_dsn: Option<String>,
    /// Sentry environment (env WORKER_SENTRY_ENV)
    #[arg(long)]
    pub sentry_env: Option<String>,
    /// Engine self-check timeout (env WORKER_VALIDATION_TIMEOUT_MS)
    #[arg(long)]
    pub engine_validation_timeout_ms: Option<String>,
    /// Engine self-check retries (env WORKER_VALIDATION_RETRIES)
    #[arg(long)]
    pub engine_validation_retries: Option<String>,
    /// Report each step's peak memory as `mem.peak` on step:complete (env WORKER_PROFILE)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub profile: Option<String>,
    /// Profile poll interval (env WORKER_PROFILE_POLL_INTERVAL_MS); accepted, not needed: the
    /// peak is the OS's high-water mark, not a poll
    #[arg(long)]
    pub profile_poll_interval_ms: Option<String>,
    /// Extra CA certificate file (PEM) trusted for wss:// (env WORKER_CA_FILE)
    #[arg(long)]
    pub ca_file: Option<String>,
}

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
    pub timeout_retry_count: u64,
    pub timeout_retry_delay: Duration,
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

        let secret = match pick(&args.secret, "WORKER_SECRET") {
            Some(s) if !s.is_empty() => s,
            _ if is_mock_url => "abdefg".to_string(),
            _ if args.debug => {
                warnings.push(
                    "WORKER_SECRET is not set: signing the worker token with <secret>".into(),
                );
                "<secret>".to_string()
            }
            _ => return Err(WorkerError::Config("WORKER_SECRET is not set".into())),
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
        // Without a URL the collections version is cleared (§7.4).
        let collections_version = if collections_url.is_some() {
            pick(&args.collections_version, "WORKER_COLLECTIONS_VERSION").filter(|s| !s.is_empty())
        } else {
            None
        };

        let worker_name = env("WORKER_NAME")
            .filter(|s| !s.is_empty())
            .or_else(|| env("DEPLOYED_POD_NAME").filter(|s| !s.is_empty()));

        Ok(Config {
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
            collections_url,
            collections_version,
            repo_dir: pick(&args.repo_dir, "WORKER_REPO_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            monorepo_dir: pick(&args.monorepo_dir, "OPENFN_ADAPTORS_REPO")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            state_props_to_remove,
            log_level: pick(&args.log, "WORKER_LOG_LEVEL").unwrap_or_else(|| "debug".into()),
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
        })
    }
}

fn bad(name: &str, value: &str) -> WorkerError {
    WorkerError::Config(format!("invalid value for {name}: {value:?}"))
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
            "invalid value for backoff: {s:?} (max is below min)"
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(argv: &[&str], env: &[(&str, &str)]) -> Result<Config, WorkerError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut full = vec!["ws-worker"];
        full.extend_from_slice(argv);
        let args = Args::try_parse_from(full).map_err(|e| WorkerError::Cli(e.to_string()))?;
        Config::resolve(args, &|k| env.get(k).cloned())
    }

    fn ok(argv: &[&str], env: &[(&str, &str)]) -> Config {
        match cfg(argv, env) {
            Ok(c) => c,
            Err(e) => panic!("expected config for {argv:?}: {e}"),
        }
    }

    #[test]
    fn defaults() {
        let c = ok(&[], &[("WORKER_SECRET", "s")]);
        assert_eq!(c.port, 2222);
        assert_eq!(c.lightning, DEFAULT_LIGHTNING);
        assert_eq!(
            c.workloops,
            vec![WorkloopSpec {
                queues: vec!["manual".into(), "*".into()],
                capacity: 5
            }]
        );
        assert_eq!(c.capacity(), 5);
        assert_eq!(
            (c.backoff_min, c.backoff_max),
            (Duration::from_secs(1), Duration::from_secs(10))
        );
        assert!(c.auto_loop);
        assert!(!c.batch_logs);
        assert_eq!(c.batch_interval, Duration::from_millis(10));
        assert_eq!(c.batch_limit, 50);
        assert_eq!(c.run_memory_mb, 500);
        assert_eq!(c.payload_limit_mb, 10.0);
        assert_eq!(c.log_payload_limit_mb, None);
        assert_eq!(c.max_run_duration, Duration::from_secs(300));
        assert_eq!(c.message_timeout, Duration::from_secs(30));
        assert_eq!(c.claim_timeout, Duration::from_secs(3600));
        assert_eq!(c.state_props_to_remove, vec!["configuration", "response"]);
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.sentry_env, "dev");
        assert_eq!(c.worker_name, None);
    }

    #[test]
    fn short_flag_with_space_in_one_argv_element() {
        let c = ok(&["-l ws://localhost:1234/worker", "--debug"], &[]);
        assert_eq!(c.lightning, "ws://localhost:1234/worker");
    }

    #[test]
    fn equals_forms() {
        let c = ok(
            &[
                "--backoff=0.0001/0.01",
                "--log=debug",
                "--collections-version=1.0.0",
                "--capacity=2",
                "--debug",
                "-c",
                "http://c",
            ],
            &[],
        );
        assert_eq!(c.backoff_min, Duration::from_secs_f64(0.0001));
        assert_eq!(c.backoff_max, Duration::from_secs_f64(0.01));
        assert_eq!(c.capacity(), 2);
        assert_eq!(c.collections_version.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn lightning_aliases_and_mock() {
        let c = ok(
            &["--lightning-service-url", "ws://a/worker", "-s", "x"],
            &[],
        );
        assert_eq!(c.lightning, "ws://a/worker");
        let c = ok(&["-l", "mock"], &[]);
        assert_eq!(c.lightning, MOCK_LIGHTNING);
        assert!(!c.secret.is_empty());
        let c = ok(&[], &[("WORKER_LIGHTNING_SERVICE_URL", "mock")]);
        assert_eq!(c.lightning, MOCK_LIGHTNING);
    }

    #[test]
    fn secret_required() {
        let e = cfg(&[], &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("WORKER_SECRET is not set"), "{e}");
        assert!(cfg(&["--debug"], &[]).is_ok());
        assert_eq!(ok(&[], &[("WORKER_SECRET", "abc")]).secret, "abc");
        assert_eq!(
            ok(&["--secret", "flag"], &[("WORKER_SECRET", "env")]).secret,
            "flag"
        );
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let c = ok(
            &["-p", "3000"],
            &[("WORKER_PORT", "4000"), ("WORKER_SECRET", "s")],
        );
        assert_eq!(c.port, 3000);
        let c = ok(&[], &[("WORKER_PORT", "4000"), ("WORKER_SECRET", "s")]);
        assert_eq!(c.port, 4000);
    }

    #[test]
    fn env_numbers_are_parse_int() {
        let c = ok(
            &[],
            &[
                ("WORKER_SECRET", "s"),
                ("WORKER_BATCH_LIMIT", "12abc"),
                ("WORKER_MAX_RUN_MEMORY_MB", "256.7"),
            ],
        );
        assert_eq!(c.batch_limit, 12);
        assert_eq!(c.run_memory_mb, 256);
        assert!(cfg(&[], &[("WORKER_SECRET", "s"), ("WORKER_PORT", "abc")]).is_err());
    }

    #[test]
    fn env_booleans_only_true_or_1() {
        for (v, expected) in [
            ("true", true),
            ("1", true),
            ("yes", false),
            ("TRUE", false),
            ("0", false),
            ("false", false),
        ] {
            let c = ok(&[], &[("WORKER_SECRET", "s"), ("WORKER_BATCH_LOGS", v)]);
            assert_eq!(c.batch_logs, expected, "{v}");
        }
        assert!(ok(&["--batch-logs", "--debug"], &[]).batch_logs);
        assert!(ok(&["--profile", "--debug"], &[]).profile);
    }

    #[test]
    fn env_arrays_split_on_commas() {
        let c = ok(
            &[],
            &[
                ("WORKER_SECRET", "s"),
                ("WORKER_STATE_PROPS_TO_REMOVE", "a, b,c"),
            ],
        );
        assert_eq!(c.state_props_to_remove, vec!["a", "b", "c"]);
    }

    #[test]
    fn capacity_and_workloops_are_exclusive() {
        assert!(cfg(&["--capacity", "2", "--workloops", "a:1", "--debug"], &[]).is_err());
        assert!(
            cfg(
                &["--capacity", "2", "--debug"],
                &[("WORKER_WORKLOOPS", "a:1")]
            )
            .is_err()
        );
        assert!(
            cfg(
                &["--debug"],
                &[("WORKER_CAPACITY", "2"), ("WORKER_WORKLOOPS", "a:1")]
            )
            .is_err()
        );
        let c = ok(&["--debug"], &[("WORKER_CAPACITY", "3")]);
        assert_eq!(c.workloops[0].key(), "manual>*");
        assert_eq!(c.capacity(), 3);
    }

    #[test]
    fn workloops_syntax() {
        let mut w = Vec::new();
        let l = parse_workloops("fast_lane:1 manual>*:4", &mut w).unwrap_or_default();
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0],
            WorkloopSpec {
                queues: vec!["fast_lane".into()],
                capacity: 1
            }
        );
        assert_eq!(l[1].key(), "manual>*");
        assert_eq!(l[1].capacity, 4);
        assert!(w.is_empty());
        for bad in [
            "", "   ", "a", "a:0", "a:1.5", "a:-1", "*>a:1", "a>>b:1", ":1", "a-b:1", "a:x",
        ] {
            assert!(
                parse_workloops(bad, &mut Vec::new()).is_err(),
                "{bad:?} should fail"
            );
        }
        let mut w = Vec::new();
        assert!(parse_workloops("a>a:1 a>a:2", &mut w).is_ok());
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(
            parse_workloops("*:5", &mut Vec::new())
                .map(|l| l[0].key())
                .ok()
                .as_deref(),
            Some("*")
        );
    }

    #[test]
    fn backoff_parse() {
        assert!(parse_backoff("1").is_err());
        assert!(parse_backoff("a/b").is_err());
        assert!(parse_backoff("5/1").is_err());
        assert_eq!(
            parse_backoff("0.5/2").ok(),
            Some((Duration::from_millis(500), Duration::from_secs(2)))
        );
    }

    #[test]
    fn timeouts_from_env_and_flags() {
        let c = ok(
            &["--debug"],
            &[
                ("WORKER_MESSAGE_TIMEOUT_SECONDS", "5"),
                ("WORKER_CLAIM_TIMEOUT_SECONDS", "7"),
            ],
        );
        assert_eq!(c.message_timeout, Duration::from_secs(5));
        assert_eq!(c.claim_timeout, Duration::from_secs(7));
        let c = ok(
            &["--debug", "--message-timeout", "3", "--claim-timeout=4"],
            &[],
        );
        assert_eq!(c.message_timeout, Duration::from_secs(3));
        assert_eq!(c.claim_timeout, Duration::from_secs(4));
        let c = ok(
            &["--debug"],
            &[
                ("WORKER_SOCKET_TIMEOUT_SECONDS", "9"),
                ("WORKER_MESSAGE_TIMEOUT_SECONDS", "5"),
            ],
        );
        assert_eq!(c.message_timeout, Duration::from_secs(9));
    }

    #[test]
    fn no_loop_and_worker_name() {
        assert!(!ok(&["--no-loop", "--debug"], &[]).auto_loop);
        assert!(ok(&["--loop", "--debug"], &[]).auto_loop);
        assert_eq!(
            ok(&["--debug"], &[("DEPLOYED_POD_NAME", "pod")])
                .worker_name
                .as_deref(),
            Some("pod")
        );
        assert_eq!(
            ok(
                &["--debug"],
                &[("DEPLOYED_POD_NAME", "pod"), ("WORKER_NAME", "w")]
            )
            .worker_name
            .as_deref(),
            Some("w")
        );
    }

    #[test]
    fn proxies_from_env() {
        let c = ok(
            &["--debug", "-l", "wss://app.openfn.org/worker"],
            &[
                ("HTTPS_PROXY", "http://proxy:3128"),
                ("HTTP_PROXY", "http://p2:80"),
            ],
        );
        assert_eq!(
            c.proxy_for_lightning().as_deref(),
            Some("http://proxy:3128")
        );
        let c = ok(
            &["--debug", "-l", "ws://localhost:4000/worker"],
            &[("http_proxy", "http://p2:80")],
        );
        assert_eq!(c.proxy_for_lightning().as_deref(), Some("http://p2:80"));
        let c = ok(
            &["--debug", "-l", "wss://app.openfn.org/worker"],
            &[
                ("HTTPS_PROXY", "http://proxy:3128"),
                ("NO_PROXY", "localhost,.openfn.org"),
            ],
        );
        assert_eq!(c.proxy_for_lightning(), None);
    }

    #[test]
    fn collections_version_cleared_without_url() {
        assert_eq!(
            ok(&["--debug", "--collections-version", "1.0.0"], &[]).collections_version,
            None
        );
    }

    #[test]
    fn log_payload_limit_is_unset_unless_configured() {
        assert_eq!(
            ok(&["--debug", "--log-payload-memory", "0"], &[]).log_payload_limit_mb,
            Some(0.0)
        );
        assert_eq!(
            ok(&["--debug", "--payload-memory=0.5"], &[]).payload_limit_mb,
            0.5
        );
    }
}
