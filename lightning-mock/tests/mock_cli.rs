//! The `lightning-mock` binary: refuses to start without a secret unless `--no-auth`, serves
//! the dev API and the worker socket, applies fault flags, stops gracefully on SIGTERM and
//! SIGINT, says in one line when its port is taken, exits 2 on usage errors, and logs plain
//! values (colours only on a terminal or when forced).

mod common;

use std::process::Stdio;

use futures_util::{SinkExt, StreamExt};
use openfn_lexicon::term::strip_ansi;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_lightning-mock");

/// A running mock binary: its address and its stdout lines.
struct Running {
    child: Child,
    addr: String,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Running {
    async fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["--port", "0"])
            .args(args)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("WORKER_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, mut lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let listening = next_line(&mut lines, |l| l.contains("addr=")).await;
        let addr = strip_ansi(&listening)
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .expect("address in the listening line");
        Running { child, addr, lines }
    }

    async fn line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        next_line(&mut self.lines, pred).await
    }
}

async fn next_line(
    lines: &mut mpsc::UnboundedReceiver<String>,
    pred: impl Fn(&str) -> bool,
) -> String {
    tokio::time::timeout(common::WAIT, async {
        while let Some(line) = lines.recv().await {
            if pred(&strip_ansi(&line)) {
                return line;
            }
        }
        panic!("stdout ended before the line came");
    })
    .await
    .expect("the line comes in time")
}

fn run_to_end(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_remove("WORKER_SECRET")
        .output()
        .expect("runs")
}

#[test]
fn refuses_to_start_without_a_secret() {
    let out = run_to_end(&["--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WORKER_SECRET is not set"), "{err}");
    assert!(err.contains("--no-auth"), "{err}");
}

#[test]
fn usage_errors_exit_2_with_the_fix() {
    for (args, says) in [
        (&["--no-auth", "--log", "bogus"][..], "--log"),
        (&["--no-auth", "--reject", ":3"][..], "--reject"),
        (&["--no-auth", "--port", "eighty"][..], "--port"),
        (&["--no-auth", "--bogus-flag"][..], "--bogus-flag"),
    ] {
        let out = run_to_end(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_taken_port_is_one_line_naming_the_port_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = run_to_end(&["--no-auth", "--port", &port]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
    assert!(
        !err.contains("os error"),
        "the OS error is not repeated: {err}"
    );
}

#[tokio::test]
async fn serves_with_flags() {
    let mut mock = Running::start(
        &[
            "--no-auth",
            "--log",
            "info",
            "--reject",
            "claim:2",
            "--reply-delay-ms",
            "1",
        ],
        &[("NO_COLOR", "1")],
    )
    .await;
    let base = format!("http://{}", mock.addr);
    let http = common::http();
    let faults: serde_json::Value = http
        .get(format!("{base}/faults"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(faults["reject"], json!({"claim": 2}));
    assert_eq!(faults["reply_delay_ms"], 1);
    let res = http
        .post(format!("{base}/run"))
        .json(&common::tiny(Some("cli-run")))
        .send()
        .await
        .expect("post");
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json"),
        json!({"id": "cli-run"})
    );
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/worker/websocket?vsn=2.0.0", mock.addr))
            .await
            .expect("socket");
    ws.send(Message::Text(
        json!([null, "1", "phoenix", "heartbeat", {}])
            .to_string()
            .into(),
    ))
    .await
    .expect("send");
    let reply = tokio::time::timeout(common::WAIT, ws.next())
        .await
        .expect("reply")
        .expect("open")
        .expect("frame");
    assert_eq!(
        reply.into_text().expect("text").as_str(),
        r#"[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );
    let _ = mock.child.kill().await;
}

/// SIGTERM and SIGINT: every worker socket gets a close frame (1001), then exit 0.
#[tokio::test]
async fn stops_gracefully_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let mut mock = Running::start(&["--no-auth"], &[]).await;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/worker/websocket", mock.addr))
                .await
                .expect("socket");
        mock.line(|l| l.contains("worker connected")).await;
        let pid = mock.child.id().expect("pid").to_string();
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let close = tokio::time::timeout(common::WAIT, async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    other => panic!("SIG{signal}: no close frame: {other:?}"),
                }
            }
        })
        .await
        .expect("closed in time")
        .expect("a close code");
        assert_eq!(u16::from(close.code), 1001, "SIG{signal}");
        assert_eq!(close.reason.as_str(), "server shutting down");
        let status = tokio::time::timeout(common::WAIT, mock.child.wait())
            .await
            .expect("exits in time")
            .expect("status");
        assert_eq!(status.code(), Some(0), "SIG{signal}");
    }
}

/// Log fields are values (`worker_id=w-7`, not `Some("w-7")`), and ANSI colours appear only
/// when forced (stdout is a pipe here); NO_COLOR wins over CLICOLOR_FORCE.
#[tokio::test]
async fn logs_plain_values_and_colours_only_when_asked() {
    let token = openfn_lightning_mock::worker_token("anything", "w-7").expect("token");
    for (env, coloured) in [
        (&[][..], false),
        (&[("CLICOLOR_FORCE", "1")][..], true),
        (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")][..], false),
    ] {
        let mut mock = Running::start(&["--no-auth"], env).await;
        let (_ws, _) = tokio_tungstenite::connect_async(format!(
            "ws://{}/worker/websocket?token={token}",
            mock.addr
        ))
        .await
        .expect("socket");
        let line = mock.line(|l| l.contains("worker connected")).await;
        assert_eq!(line.contains('\u{1b}'), coloured, "{env:?}: {line:?}");
        let plain: String = strip_ansi(&line);
        assert!(plain.contains("worker_id=w-7"), "{plain}");
        assert!(!plain.contains("Some("), "{plain}");
        let _ = mock.child.kill().await;
    }
}

/// `lightning-mock | head -1`: with stdout closed the mock goes on serving, says nothing on
/// stderr about it, and still stops cleanly (exit 0) on SIGTERM.
#[tokio::test]
async fn a_closed_stdout_neither_stops_nor_hangs_the_mock() {
    let mut child = tokio::process::Command::new(BIN)
        .args(["--port", "0", "--no-auth", "--log", "debug"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(common::WAIT, lines.next_line())
        .await
        .expect("a line in time")
        .expect("read")
        .expect("a line");
    let addr = strip_ansi(&first)
        .split("addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .expect("the listening line comes first");
    drop(lines);
    // Logged requests now hit the closed pipe; the mock still answers.
    for _ in 0..3 {
        let res = common::http()
            .post(format!("http://{addr}/run"))
            .json(&common::tiny(None))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status().as_u16(), 200);
    }
    let pid = child.id().expect("pid").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success()
    );
    let out = tokio::time::timeout(common::WAIT, child.wait_with_output())
        .await
        .expect("exits in time")
        .expect("output");
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
}
