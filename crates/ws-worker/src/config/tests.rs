//! Tests of the option parsing.
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

#[test]
fn message_limit_and_retry_budget() {
    let c = ok(&[], &[("WORKER_SECRET", "s")]);
    assert_eq!(c.max_message_bytes, 100 * 1024 * 1024);
    assert_eq!(c.timeout_retry_count, 10);
    assert_eq!(c.timeout_retry_delay, Duration::from_secs(30));
    assert_eq!(c.refused_retry_count, 3);
    let c = ok(
        &["--max-message-mb=12.5", "--timeout-retry-count", "3"],
        &[
            ("WORKER_SECRET", "s"),
            ("WORKER_REFUSED_RETRY_COUNT", "0"),
            ("WORKER_MAX_MESSAGE_MB", "1"),
            ("WORKER_TIMEOUT_RETRY_DELAY_MS", "250"),
        ],
    );
    assert_eq!(c.max_message_bytes, 12 * 1024 * 1024 + 512 * 1024);
    assert_eq!(c.timeout_retry_count, 3);
    assert_eq!(c.timeout_retry_delay, Duration::from_millis(250));
    assert_eq!(c.refused_retry_count, 0);
    let c = ok(
        &[],
        &[("WORKER_SECRET", "s"), ("WORKER_MAX_MESSAGE_MB", "2")],
    );
    assert_eq!(c.max_message_bytes, 2 * 1024 * 1024);
    for bad in ["0", "abc", "0.0001"] {
        let e = cfg(&["--max-message-mb", bad], &[("WORKER_SECRET", "s")]);
        assert!(
            matches!(&e, Err(WorkerError::Config(m)) if m.contains("max-message-mb")),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn log_levels_are_checked() {
    assert_eq!(ok(&[], &[("WORKER_SECRET", "s")]).log_level, "debug");
    assert_eq!(
        ok(&["--log", "info"], &[("WORKER_SECRET", "s")]).log_level,
        "info"
    );
    for (argv, env) in [
        (&["--log", "bogus"][..], &[("WORKER_SECRET", "s")][..]),
        (&[], &[("WORKER_SECRET", "s"), ("WORKER_LOG_LEVEL", "loud")]),
    ] {
        let err = cfg(argv, env).expect_err("an unknown level is refused");
        assert!(
            err.to_string().contains("expected one of none, error"),
            "{err}"
        );
    }
}

#[test]
fn template_flags_and_env() {
    use openfn_engine::TemplateMode;
    let c = ok(&[], &[("WORKER_SECRET", "s")]);
    assert_eq!(c.templates, openfn_engine::TemplateConfig::default());
    let c = ok(
        &[
            "--templates",
            "always",
            "--max-templates",
            "2",
            "--prewarm",
            "a@1, b@2",
        ],
        &[("WORKER_SECRET", "s"), ("WORKER_TEMPLATE_MEMORY_MB", "300")],
    );
    assert_eq!(c.templates.mode, TemplateMode::Always);
    assert_eq!(c.templates.max_templates, 2);
    assert_eq!(c.templates.max_memory_mb, 300);
    assert_eq!(c.templates.prewarm, vec!["a@1", "b@2"]);
    let c = ok(&[], &[("WORKER_SECRET", "s"), ("WORKER_TEMPLATES", "off")]);
    assert_eq!(c.templates.mode, TemplateMode::Off);
    assert!(cfg(&["--templates", "sometimes"], &[("WORKER_SECRET", "s")]).is_err());
}
