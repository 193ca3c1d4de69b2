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
