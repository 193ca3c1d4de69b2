//! Bad configuration through the binary: every malformed env var or flag stops the worker at
//! start with exit code 1 and a message naming the setting, never a panic or a default taken
//! silently.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn worker(envs: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws-worker"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WORKER_")) {
        cmd.env_remove(k);
    }
    cmd.env("WORKER_SECRET", "s3cret")
        // Nothing listens here: a worker that started anyway would not get far.
        .args(["-l", "ws://127.0.0.1:9/worker"])
        .args(args)
        .envs(envs.iter().copied());
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ws-worker runs");
    // A worker that accepted the setting would run on: stop it and say so.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, format!("{args:?} {envs:?}: the worker started"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_env_vars_name_the_variable() {
    for (var, value) in [
        ("WORKER_CAPACITY", "many"),
        ("WORKER_CAPACITY", "-1"),
        ("WORKER_PORT", "99999"),
        ("WORKER_BACKOFF", "soon"),
        ("WORKER_MAX_RUN_DURATION_SECONDS", "soon"),
        ("WORKER_MAX_RUN_MEMORY_MB", "lots"),
        ("WORKER_MAX_PAYLOAD_MB", "x"),
        ("WORKER_MESSAGE_TIMEOUT_SECONDS", "-3"),
        ("WORKER_WORKLOOPS", "fast:0"),
        ("WORKER_WORKLOOPS", "*>a:1"),
    ] {
        let (code, err) = worker(&[(var, value)], &[]);
        assert_eq!(code, Some(1), "{var}={value}: {err}");
        assert!(
            err.contains(var) || err.contains(value),
            "{var}={value}: the message names neither: {err}"
        );
        assert!(!err.contains("panicked"), "{var}={value}: {err}");
    }
}

#[test]
fn malformed_flags_name_the_flag() {
    for args in [
        &["--capacity", "zero"][..],
        &["--port", "-1"],
        &["--workloops", "a>b"],
        &["--capacity", "2", "--workloops", "a:1"],
        &["--backoff", "2/1"],
        &["--no-such-flag"],
    ] {
        let (code, err) = worker(&[], args);
        assert!(
            matches!(code, Some(1) | Some(2)),
            "{args:?}: exit {code:?}: {err}"
        );
        let flag = args[0].trim_start_matches('-');
        assert!(
            err.contains(flag) || err.contains(args[args.len() - 1]),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// The worker with `args` only (no `-l` added), `env` on top of an environment without any
/// `WORKER_*` variable: exit code, stdout and stderr.
fn worker_bare(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws-worker"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WORKER_")) {
        cmd.env_remove(k);
    }
    let out = cmd
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("ws-worker runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Configuration that can never work: exit 1 at once, nothing on stdout, one line on stderr
/// that contains every `hint`.
fn fails_with_hint(env: &[(&str, &str)], args: &[&str], hints: &[&str]) {
    let (code, out, err) = worker_bare(env, args);
    assert_eq!(code, Some(1), "{args:?} {env:?}: {err}");
    assert_eq!(out, "", "{args:?}: stdout");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    for hint in hints {
        assert!(err.contains(hint), "{args:?} {env:?}: no {hint:?} in {err}");
    }
}

#[test]
fn configuration_that_can_never_work_says_how_to_fix_it() {
    let secret = [("WORKER_SECRET", "s3cret")];
    for url in [
        "http://localhost:8888",
        "localhost:8888",
        "ws://",
        "https://x/worker",
    ] {
        fails_with_hint(&secret, &["-l", url], &[url, "use ws://host:port/worker"]);
    }
    fails_with_hint(
        &[
            ("WORKER_SECRET", "s3cret"),
            ("WORKER_LIGHTNING_SERVICE_URL", "http://h:1"),
        ],
        &[],
        &["WORKER_LIGHTNING_SERVICE_URL", "use ws://host:port/worker"],
    );
    fails_with_hint(
        &secret,
        &["--log", "bogus"],
        &["\"bogus\"", "none, error, warn"],
    );
    fails_with_hint(
        &[],
        &["-l", "ws://127.0.0.1:9/worker"],
        &[
            "WORKER_SECRET is not set",
            "--secret",
            "lightning-mock gen-keys",
        ],
    );
    fails_with_hint(
        &secret,
        &["--capacity", "abc"],
        &[
            "\"abc\"",
            "--capacity",
            "WORKER_CAPACITY",
            "a whole number of slots",
        ],
    );
    for backoff in ["x", "2/1", "1/x"] {
        fails_with_hint(
            &secret,
            &["--backoff", backoff],
            &[backoff, "--backoff", "`min/max` in seconds"],
        );
    }
    fails_with_hint(&secret, &["--log-format", "xml"], &["text or json"]);
    fails_with_hint(
        &secret,
        &[
            "-l",
            "ws://127.0.0.1:9/worker",
            "--collections-url",
            "nowhere",
        ],
        &[
            "\"nowhere\"",
            "WORKER_COLLECTIONS_URL",
            "http:// or https://",
        ],
    );
    fails_with_hint(
        &[("WORKER_SECRET", "s3cret"), ("HTTPS_PROXY", "proxy:3128")],
        &["-l", "wss://127.0.0.1:9/worker"],
        &["HTTPS_PROXY", "http://proxy:3128", "NO_PROXY"],
    );
}

#[test]
fn files_and_keys_are_checked_before_anything_starts() {
    let secret = [("WORKER_SECRET", "s3cret")];
    let wss = ["--mock", "--port", "0", "-l", "wss://127.0.0.1:9/worker"];
    let not_pem = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(not_pem.path(), "not a certificate\n").expect("write");
    let not_pem = not_pem.path().to_str().expect("utf-8 path");
    for (ca, hint) in [
        ("/no/such/ca.pem", "cannot read CA file"),
        (not_pem, "no PEM certificate"),
    ] {
        let args = [&wss[..], &["--ca-file", ca]].concat();
        fails_with_hint(&secret, &args, &[hint, ca, "--ca-file / WORKER_CA_FILE"]);
    }
    let args = [&wss[..], &["--lightning-public-key", "bm90IGEga2V5"]].concat();
    fails_with_hint(
        &secret,
        &args,
        &[
            "lightning public key",
            "WORKER_LIGHTNING_PUBLIC_KEY",
            "gen-keys",
        ],
    );
}

#[test]
fn a_port_in_use_names_the_flag_and_the_env_var() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    fails_with_hint(
        &[("WORKER_SECRET", "s3cret")],
        &["--mock", "-l", "ws://127.0.0.1:9/worker", "--port", &port],
        &[&port, "in use", "--port", "WORKER_PORT"],
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    for args in [&["--no-such-flag"][..], &["--port"], &["stray"]] {
        let (code, out, err) = worker_bare(&[], args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
        assert!(err.contains("--help"), "{args:?}: {err}");
    }
    for args in [&["--help"][..], &["-h"], &["--version"], &["-V"]] {
        let (code, out, err) = worker_bare(&[], args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
        assert!(out.contains("ws-worker"), "{args:?}: {out}");
    }
}

/// A worker built without the wasm tier refuses `--sandbox wasm` at start and says how to
/// build one that has it; an unknown tier names the setting either way.
#[cfg(not(feature = "wasm"))]
#[test]
fn the_wasm_tier_is_refused_by_a_build_without_it() {
    let secret = ("WORKER_SECRET", "s3cret");
    let hints: &[&str] = &["--sandbox wasm", "--features wasm", "WASM=1"];
    fails_with_hint(
        &[secret],
        &["-l", "ws://127.0.0.1:9/worker", "--sandbox", "wasm"],
        hints,
    );
    fails_with_hint(
        &[secret, ("WORKER_SANDBOX", "wasm")],
        &["-l", "ws://127.0.0.1:9/worker"],
        hints,
    );
}

#[test]
fn an_unknown_sandbox_names_the_setting() {
    fails_with_hint(
        &[("WORKER_SECRET", "s3cret"), ("WORKER_SANDBOX", "docker")],
        &["-l", "ws://127.0.0.1:9/worker"],
        &["WORKER_SANDBOX", "--sandbox", "native or wasm"],
    );
}
