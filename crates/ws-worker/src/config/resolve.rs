//! How [`Config::resolve`] reads each group of options: the env lookup with the kit's parsing
//! rules, then one function per concern (Lightning and auth, workloops, timeouts, limits,
//! collections, engine, proxies) and the start-up checks.

use std::time::Duration;

use super::*;

/// The environment lookup behind [`Config::resolve`], with the kit's parsing rules: values are
/// trimmed, a flag wins over its env var.
pub(super) struct Source<'a> {
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    /// An env var, trimmed.
    pub(super) fn var(&self, key: &str) -> Option<String> {
        (self.env)(key).map(|v| v.trim().to_string())
    }

    /// The flag (trimmed) if given, else the env var.
    pub(super) fn pick(&self, flag: &Option<String>, key: &str) -> Option<String> {
        flag.as_ref()
            .map(|v| v.trim().to_string())
            .or_else(|| self.var(key))
    }

    /// An integer option: flag, env var, name for errors, default.
    pub(super) fn num(
        &self,
        flag: &Option<String>,
        key: &str,
        name: &str,
        default: u64,
    ) -> Result<u64, WorkerError> {
        match self.pick(flag, key) {
            Some(v) => parse_int(&v).ok_or_else(|| bad(name, &v)),
            None => Ok(default),
        }
    }

    /// A decimal option, `None` when unset.
    pub(super) fn float(
        &self,
        flag: &Option<String>,
        key: &str,
        name: &str,
    ) -> Result<Option<f64>, WorkerError> {
        match self.pick(flag, key) {
            Some(v) => parse_float(&v).map(Some).ok_or_else(|| bad(name, &v)),
            None => Ok(None),
        }
    }

    /// A boolean option: true only for `true` or `1`.
    pub(super) fn boolean(&self, flag: &Option<String>, key: &str) -> bool {
        self.pick(flag, key)
            .map(|v| v == "true" || v == "1")
            .unwrap_or(false)
    }
}

/// `--port` / `WORKER_PORT`.
pub(super) fn port(args: &Args, src: &Source<'_>) -> Result<u16, WorkerError> {
    match src.pick(&args.port, "WORKER_PORT") {
        Some(v) => {
            let n = parse_int(&v).ok_or_else(|| bad("port", &v))?;
            u16::try_from(n).map_err(|_| bad("port", &v))
        }
        None => Ok(2222),
    }
}

/// The Lightning URL (`-l mock` expanded) and the worker-token secret (defaulted for the mock
/// URL and, with a warning, under `--debug`).
pub(super) fn lightning_and_secret(
    args: &Args,
    src: &Source<'_>,
    warnings: &mut Vec<String>,
) -> Result<(String, String), WorkerError> {
    let mut lightning = src
        .pick(&args.lightning, "WORKER_LIGHTNING_SERVICE_URL")
        .unwrap_or_else(|| DEFAULT_LIGHTNING.to_string());
    let is_mock_url = lightning == "mock";
    if is_mock_url {
        lightning = MOCK_LIGHTNING.to_string();
    }
    check_lightning_url(&lightning)?;

    let secret = match src.pick(&args.secret, "WORKER_SECRET") {
        Some(s) if !s.is_empty() => s,
        _ if is_mock_url => "abdefg".to_string(),
        _ if args.debug => {
            warnings
                .push("WORKER_SECRET is not set: signing the worker token with <secret>".into());
            "<secret>".to_string()
        }
        _ => {
            return Err(WorkerError::Config(
                "WORKER_SECRET is not set: pass --secret <secret> or set WORKER_SECRET to the secret Lightning signs worker tokens with (`lightning-mock gen-keys` makes one; `-l mock` needs none)".into(),
            ));
        }
    };
    Ok((lightning, secret))
}

/// `--capacity` (one `manual>*` workloop) or `--workloops`, never both; 5 slots by default.
pub(super) fn workloops(
    args: &Args,
    src: &Source<'_>,
    warnings: &mut Vec<String>,
) -> Result<Vec<WorkloopSpec>, WorkerError> {
    let capacity = src.pick(&args.capacity, "WORKER_CAPACITY");
    let workloops_text = src.pick(&args.workloops, "WORKER_WORKLOOPS");
    match (capacity, workloops_text) {
        (Some(_), Some(_)) => Err(WorkerError::Config(
            "capacity and workloops are mutually exclusive: set only one of --capacity/WORKER_CAPACITY and --workloops/WORKER_WORKLOOPS".into(),
        )),
        (Some(c), None) => {
            let n = parse_int(&c)
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad("capacity", &c))?;
            Ok(vec![WorkloopSpec {
                queues: vec!["manual".into(), "*".into()],
                capacity: n as usize,
            }])
        }
        (None, Some(w)) => parse_workloops(&w, warnings),
        (None, None) => Ok(vec![WorkloopSpec {
            queues: vec!["manual".into(), "*".into()],
            capacity: 5,
        }]),
    }
}

/// The message timeout in seconds. The kit ignores `--socket-timeout` and `--message-timeout`
/// (env only); we honour them, flag first.
pub(super) fn message_timeout(args: &Args, src: &Source<'_>) -> Result<u64, WorkerError> {
    match src.pick(&args.socket_timeout, "WORKER_SOCKET_TIMEOUT_SECONDS") {
        Some(v) => parse_int(&v).ok_or_else(|| bad("socket-timeout", &v)),
        None => src.num(
            &args.message_timeout,
            "WORKER_MESSAGE_TIMEOUT_SECONDS",
            "message-timeout",
            30,
        ),
    }
}

/// `--log-format` / `WORKER_LOG_FORMAT`: `text` (default) or `json`.
pub(super) fn log_format(args: &Args, src: &Source<'_>) -> Result<LogFormat, WorkerError> {
    match src.pick(&args.log_format, "WORKER_LOG_FORMAT").as_deref() {
        None | Some("text") | Some("") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(bad("log-format", other)),
    }
}

/// The collections URL (http or https) and version; without a URL the version is cleared
/// (§7.4).
pub(super) fn collections(
    args: &Args,
    src: &Source<'_>,
) -> Result<(Option<String>, Option<String>), WorkerError> {
    let collections_url = src
        .pick(&args.collections_url, "WORKER_COLLECTIONS_URL")
        .filter(|s| !s.is_empty());
    if let Some(url) = &collections_url
        && !url::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
    {
        return Err(WorkerError::Config(format!(
            "invalid value for collections-url (--collections-url / WORKER_COLLECTIONS_URL): {url:?}; expected an http:// or https:// URL, e.g. https://app.openfn.org/collections"
        )));
    }
    let collections_version = if collections_url.is_some() {
        src.pick(&args.collections_version, "WORKER_COLLECTIONS_VERSION")
            .filter(|s| !s.is_empty())
    } else {
        None
    };
    Ok((collections_url, collections_version))
}

/// Log batching options.
pub(super) struct Batching {
    pub(super) batch_logs: bool,
    pub(super) batch_interval: Duration,
    pub(super) batch_limit: usize,
}

pub(super) fn batching(args: &Args, src: &Source<'_>) -> Result<Batching, WorkerError> {
    Ok(Batching {
        batch_logs: src.boolean(&args.batch_logs, "WORKER_BATCH_LOGS"),
        batch_interval: Duration::from_millis(src.num(
            &args.batch_interval,
            "WORKER_BATCH_INTERVAL",
            "batch-interval",
            10,
        )?),
        batch_limit: src
            .num(&args.batch_limit, "WORKER_BATCH_LIMIT", "batch-limit", 50)?
            .max(1) as usize,
    })
}

/// A run's memory, payload and duration limits.
pub(super) struct Limits {
    pub(super) run_memory_mb: u64,
    pub(super) payload_limit_mb: f64,
    pub(super) log_payload_limit_mb: Option<f64>,
    pub(super) max_run_duration: Duration,
}

pub(super) fn limits(args: &Args, src: &Source<'_>) -> Result<Limits, WorkerError> {
    Ok(Limits {
        run_memory_mb: src.num(
            &args.run_memory,
            "WORKER_MAX_RUN_MEMORY_MB",
            "run-memory",
            500,
        )?,
        payload_limit_mb: src
            .float(
                &args.payload_memory,
                "WORKER_MAX_PAYLOAD_MB",
                "payload-memory",
            )?
            .unwrap_or(10.0),
        log_payload_limit_mb: src.float(
            &args.log_payload_memory,
            "WORKER_MAX_LOG_PAYLOAD_MB",
            "log-payload-memory",
        )?,
        max_run_duration: Duration::from_secs(src.num(
            &args.max_run_duration_seconds,
            "WORKER_MAX_RUN_DURATION_SECONDS",
            "max-run-duration-seconds",
            300,
        )?),
    })
}

/// Claim timeout, event re-send budgets and the message size limit.
pub(super) struct Retries {
    pub(super) claim_timeout: Duration,
    pub(super) timeout_retry_count: u64,
    pub(super) timeout_retry_delay: Duration,
    pub(super) refused_retry_count: u64,
    pub(super) max_message_bytes: usize,
}

pub(super) fn retries(args: &Args, src: &Source<'_>) -> Result<Retries, WorkerError> {
    Ok(Retries {
        claim_timeout: Duration::from_secs(src.num(
            &args.claim_timeout,
            "WORKER_CLAIM_TIMEOUT_SECONDS",
            "claim-timeout",
            3600,
        )?),
        timeout_retry_count: src.num(
            &args.timeout_retry_count,
            "WORKER_TIMEOUT_RETRY_COUNT",
            "timeout-retry-count",
            10,
        )?,
        timeout_retry_delay: Duration::from_millis(src.num(
            &args.timeout_retry_delay,
            "WORKER_TIMEOUT_RETRY_DELAY_MS",
            "timeout-retry-delay",
            30_000,
        )?),
        refused_retry_count: src.num(
            &args.refused_retry_count,
            "WORKER_REFUSED_RETRY_COUNT",
            "refused-retry-count",
            3,
        )?,
        max_message_bytes: max_message_bytes(args, src)?,
    })
}

/// Engine validation, profiling and template options.
pub(super) struct EngineOptions {
    pub(super) engine_validation_timeout: Duration,
    pub(super) engine_validation_retries: u64,
    pub(super) profile: bool,
    pub(super) profile_poll_interval: Duration,
    pub(super) templates: openfn_engine::TemplateConfig,
    pub(super) sandbox: openfn_engine::Sandbox,
}

pub(super) fn engine_options(args: &Args, src: &Source<'_>) -> Result<EngineOptions, WorkerError> {
    Ok(EngineOptions {
        engine_validation_timeout: Duration::from_millis(src.num(
            &args.engine_validation_timeout_ms,
            "WORKER_VALIDATION_TIMEOUT_MS",
            "engine-validation-timeout-ms",
            5000,
        )?),
        engine_validation_retries: src.num(
            &args.engine_validation_retries,
            "WORKER_VALIDATION_RETRIES",
            "engine-validation-retries",
            3,
        )?,
        profile: src.boolean(&args.profile, "WORKER_PROFILE"),
        profile_poll_interval: Duration::from_millis(src.num(
            &args.profile_poll_interval_ms,
            "WORKER_PROFILE_POLL_INTERVAL_MS",
            "profile-poll-interval-ms",
            10,
        )?),
        templates: templates(args, src)?,
        sandbox: sandbox(args, src)?,
    })
}

/// `--sandbox` / `WORKER_SANDBOX`: `native` or `wasm` (only in a build with the wasm tier).
pub(super) fn sandbox(
    args: &Args,
    src: &Source<'_>,
) -> Result<openfn_engine::Sandbox, WorkerError> {
    use openfn_engine::Sandbox;
    let sandbox = match src.pick(&args.sandbox, "WORKER_SANDBOX").as_deref() {
        None | Some("") => Sandbox::Native,
        Some(v) => v.parse::<Sandbox>().map_err(|_| bad("sandbox", v))?,
    };
    if sandbox == Sandbox::Wasm && !Sandbox::WASM_BUILT {
        return Err(WorkerError::Config(
            "--sandbox wasm / WORKER_SANDBOX=wasm: this worker was built without the wasm tier; build it with `cargo build -p openfn-ws-worker --features wasm` (or the Docker image with `--build-arg WASM=1`) and its guest with crates/sandbox-wasm-guest/build.sh".to_owned(),
        ));
    }
    Ok(sandbox)
}

/// `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY` (or their lower-case spellings).
pub(super) struct Proxies {
    pub(super) https_proxy: Option<String>,
    pub(super) http_proxy: Option<String>,
    pub(super) no_proxy: Vec<String>,
}

pub(super) fn proxies(src: &Source<'_>) -> Proxies {
    Proxies {
        https_proxy: src
            .var("HTTPS_PROXY")
            .or_else(|| src.var("https_proxy"))
            .filter(|s| !s.is_empty()),
        http_proxy: src
            .var("HTTP_PROXY")
            .or_else(|| src.var("http_proxy"))
            .filter(|s| !s.is_empty()),
        no_proxy: src
            .var("NO_PROXY")
            .or_else(|| src.var("no_proxy"))
            .map(|v| split_array(&v))
            .unwrap_or_default(),
    }
}

/// The proxy the Lightning URL goes through (if any) must be a URL with a host, or every
/// connection attempt would fail.
pub(super) fn check_proxy(config: &Config) -> Result<(), WorkerError> {
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
pub(super) fn check_lightning_url(text: &str) -> Result<(), WorkerError> {
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
pub(super) fn max_message_bytes(args: &Args, src: &Source<'_>) -> Result<usize, WorkerError> {
    let Some(v) = src.pick(&args.max_message_mb, "WORKER_MAX_MESSAGE_MB") else {
        return Ok(DEFAULT_MAX_MESSAGE_BYTES);
    };
    let mb = parse_float(&v)
        .filter(|mb| *mb * 1024.0 >= 1.0)
        .ok_or_else(|| bad("max-message-mb", &v))?;
    Ok((mb * 1024.0 * 1024.0).min(usize::MAX as f64) as usize)
}

/// `--templates`, `--max-templates`, `--template-memory`, `--prewarm` (and their env vars).
pub(super) fn templates(
    args: &Args,
    src: &Source<'_>,
) -> Result<openfn_engine::TemplateConfig, WorkerError> {
    use openfn_engine::{TemplateConfig, TemplateMode};
    let defaults = TemplateConfig::default();
    let mode = match src.pick(&args.templates, "WORKER_TEMPLATES").as_deref() {
        None | Some("") => defaults.mode,
        Some("off" | "false") => TemplateMode::Off,
        Some("background" | "true") => TemplateMode::Background,
        Some("always") => TemplateMode::Always,
        Some(other) => return Err(bad("templates", other)),
    };
    Ok(TemplateConfig {
        mode,
        max_templates: src.num(
            &args.max_templates,
            "WORKER_MAX_TEMPLATES",
            "max-templates",
            defaults.max_templates as u64,
        )? as usize,
        max_memory_mb: src.num(
            &args.template_memory,
            "WORKER_TEMPLATE_MEMORY_MB",
            "template-memory",
            defaults.max_memory_mb,
        )?,
        prewarm: src
            .pick(&args.prewarm, "WORKER_PREWARM")
            .map(|v| split_array(&v))
            .unwrap_or_default(),
    })
}
