//! The worker's own log through the binary: colours only on a terminal (`NO_COLOR`,
//! `CLICOLOR_FORCE`), a clean shutdown that reports nothing lost, a crashed run's error type
//! and message, and a wrong secret said once with the fix.
//!
//! The worker runs on the mock engine: these tests are about its log, not about runs.

mod process_exit;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use openfn_lightning_mock::{Config as MockConfig, Server, ServerHandle};
use process_exit::exits_within;
use serde_json::json;

struct Worker {
    child: Child,
    /// Each line the worker writes to stdout, as it writes it (a reader thread forwards them).
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// The lines received so far.
    seen: String,
}

impl Worker {
    /// `ws-worker --mock` on `mock` with `secret`, its stdout piped to this test, `env` added to
    /// an environment without any `WORKER_*` or colour variables.
    fn start(mock: &ServerHandle, secret: &str, env: &[(&str, &str)]) -> Worker {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ws-worker"));
        for (k, _) in std::env::vars().filter(|(k, _)| {
            k.starts_with("WORKER_")
                || ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"].contains(&k.as_str())
        }) {
            cmd.env_remove(k);
        }
        let mut child = cmd
            .args([
                "--mock",
                "--port",
                "0",
                "--backoff",
                "0.05/0.2",
                "--log",
                "debug",
            ])
            .arg(format!("-l ws://{}/worker", mock.addr()))
            .env("WORKER_SECRET", secret)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ws-worker runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Waits until `done` holds for the log, within 30 s; returns the log.
    async fn wait_log(&mut self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.seen) {
            if next_line(&mut self.lines, &mut self.seen, deadline)
                .await
                .is_none()
            {
                panic!("never saw {what}:\n{}", self.seen);
            }
        }
        self.seen.clone()
    }

    /// SIGTERM, then the exit code within 20 s and the whole log.
    async fn stop(self) -> (Option<i32>, String) {
        let Worker {
            child,
            mut lines,
            mut seen,
        } = self;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let so_far = seen.clone();
        let status = exits_within(child, Duration::from_secs(20), "SIGTERM", || so_far).await;
        // the worker has exited: its stdout ends, so the rest of the log arrives
        let deadline = Instant::now() + Duration::from_secs(5);
        while next_line(&mut lines, &mut seen, deadline).await.is_some() {}
        (status.code(), seen)
    }
}

/// Appends the next line to `seen`, if one comes by `deadline`; `None` at the deadline or at
/// the end of the worker's stdout.
async fn next_line(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: &mut String,
    deadline: Instant,
) -> Option<()> {
    let line = tokio::time::timeout_at(deadline, lines.recv())
        .await
        .ok()??;
    seen.push_str(&line);
    seen.push('\n');
    Some(())
}

fn joined(log: &str) -> bool {
    log.contains("joined worker:queue")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colours_only_on_a_terminal_or_when_forced() {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    for (env, coloured) in [
        (&[][..], false),
        (&[("CLICOLOR_FORCE", "1")][..], true),
        (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")][..], false),
        (&[("CLICOLOR", "0")][..], false),
    ] {
        let mut w = Worker::start(&mock, "s3cret", env);
        w.wait_log("joined", joined).await;
        let (code, log) = w.stop().await;
        assert_eq!(code, Some(0), "{env:?}");
        assert_eq!(log.contains('\x1b'), coloured, "{env:?}:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_reports_nothing_lost() {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let mut w = Worker::start(&mock, "s3cret", &[]);
    w.wait_log("joined", joined).await;
    let (code, log) = w.stop().await;
    assert_eq!(code, Some(0), "{log}");
    // The queue manager's last line is written before the drain ends.
    assert!(log.contains("left worker:queue"), "{log}");
    assert!(log.contains("drained: exiting"), "{log}");
    assert!(!log.contains("connection lost"), "{log}");
    assert!(!log.contains(" WARN "), "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_run_logs_its_error_type_and_message() {
    let mock = Server::start(MockConfig::default()).await.expect("mock");
    let mut w = Worker::start(&mock, "s3cret", &[]);
    w.wait_log("joined", joined).await;
    let plan = json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j1", "adaptor": "@openfn/language-common@1.0.0",
                  "body": json!({"__crash": "the disk caught fire"}).to_string()}],
        "edges": [{"id": "e1", "source_trigger_id": "t", "target_job_id": "j1", "condition": "always"}],
        "starting_node_id": "t"
    });
    let id = mock.enqueue_run(plan).expect("enqueued");
    mock.wait_for_final(&id, Duration::from_secs(20))
        .await
        .expect("the run completes");
    let log = w
        .wait_log("run complete", |l| l.contains("run complete"))
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("run complete"))
        .expect("a run complete line");
    assert!(
        line.contains("RuntimeCrash: the disk caught fire") && line.contains("reason=crash"),
        "{line}"
    );
    assert!(line.contains("WARN"), "a crash is a warning: {line}");
    let (code, _) = w.stop().await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_said_once_with_the_fix() {
    let mock = Server::start(MockConfig {
        verify_worker_tokens: true,
        worker_secret: Some("right".into()),
        ..MockConfig::default()
    })
    .await
    .expect("mock");
    let mut w = Worker::start(&mock, "wrong", &[]);
    // Three refused attempts (1 s, then 2 s apart): the worker keeps trying.
    let log = w
        .wait_log("three 401s", |l| l.matches("401 Unauthorized").count() >= 3)
        .await;
    let hint = "check that WORKER_SECRET matches Lightning's";
    assert_eq!(log.matches(hint).count(), 1, "{log}");
    assert!(
        log.lines().any(|l| l.contains(hint) && l.contains("ERROR")),
        "{log}"
    );
    let (code, _) = w.stop().await;
    assert_eq!(code, Some(0));
}
