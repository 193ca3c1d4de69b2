//! Signals and closed pipes through the `ws-worker` binary: `ws-worker 2>&1 | head -3` must
//! still drain and exit 0 on SIGTERM after `head` has gone, and a log line written to a closed
//! pipe never stops a task or prints a panic.

mod process_exit;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openfn_lightning_mock::{Config as MockConfig, Server, ServerHandle};
use process_exit::exits_within;

/// The worker, joined to `mock`, with the given stdout and stderr and `extra` arguments.
fn worker(mock: &ServerHandle, stdout: Stdio, stderr: Stdio, extra: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws-worker"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WORKER_")) {
        cmd.env_remove(k);
    }
    cmd.args(extra)
        .args(["--port", "0", "--backoff", "0.05/0.2", "--log", "debug"])
        .arg(format!("-l ws://{}/worker", mock.addr()))
        .env("WORKER_SECRET", "s3cret")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("ws-worker runs")
}

/// Reads lines until one contains `want` (the worker is joined by then), within 20 s.
fn read_until(reader: impl Read, want: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for line in BufReader::new(reader).lines() {
        let line = line.expect("a log line");
        let done = line.contains(want);
        lines.push(line);
        if done {
            return lines;
        }
        assert!(Instant::now() < deadline, "no {want:?} in {lines:#?}");
    }
    panic!("the log ended before {want:?}: {lines:#?}");
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_after_the_log_pipe_closed() {
    // The real engine (its supervisor logs too) and the mock engine.
    let repo = tempfile::tempdir().expect("repo dir");
    let repo = repo.path().to_str().expect("utf-8 path");
    for extra in [&["--repo-dir", repo][..], &["--mock"]] {
        sigterm_after_head(extra).await;
    }
}

/// `ws-worker 2>&1 | head`: stdout and stderr are one pipe whose reader goes away once the
/// worker is joined; SIGTERM then still drains and exits 0.
async fn sigterm_after_head(extra: &[&str]) {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let (reader, writer) = std::io::pipe().expect("pipe");
    let child = worker(
        &mock,
        Stdio::from(writer.try_clone().expect("dup")),
        Stdio::from(writer),
        extra,
    );
    // `head` exits once the worker is joined: the reading end closes with `reader`.
    let lines = tokio::task::spawn_blocking(move || read_until(reader, "joined worker:queue"))
        .await
        .expect("reader");
    assert!(lines.iter().all(|l| !l.contains('\x1b')), "{lines:#?}");
    // Every log line from now on hits a closed pipe; the first is "SIGTERM received".
    sigterm(&child);
    let status = exits_within(
        child,
        Duration::from_secs(20),
        "the worker after SIGTERM",
        String::new,
    )
    .await;
    assert_eq!(
        status.code(),
        Some(0),
        "{extra:?}: the drain's exit code: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_prints_nothing_on_stderr() {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut child = worker(&mock, Stdio::from(writer), Stdio::piped(), &["--mock"]);
    let stderr = child.stderr.take().expect("stderr");
    tokio::task::spawn_blocking(move || read_until(reader, "joined worker:queue"))
        .await
        .expect("reader");
    sigterm(&child);
    let status = exits_within(
        child,
        Duration::from_secs(20),
        "the worker after SIGTERM",
        String::new,
    )
    .await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut err = String::new();
    BufReader::new(stderr)
        .read_to_string(&mut err)
        .expect("stderr");
    // Neither tracing's "Unable to write an event" report nor a panic: the lines are dropped.
    assert_eq!(err, "", "stderr after stdout closed");
}
