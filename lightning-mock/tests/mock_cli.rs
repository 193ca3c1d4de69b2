//! The `lightning-mock` binary: refuses to start without a secret unless `--no-auth`, serves
//! the dev API and the worker socket, and applies fault flags.

mod common;

use std::process::Stdio;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

#[test]
fn refuses_to_start_without_a_secret() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightning-mock"))
        .args(["--port", "0"])
        .env_remove("WORKER_SECRET")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WORKER_SECRET is not set"), "{err}");
}

#[tokio::test]
async fn serves_with_flags() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lightning-mock"))
        .args([
            "--port",
            "0",
            "--no-auth",
            "--log",
            "info",
            "--reject",
            "claim:2",
            "--reply-delay-ms",
            "1",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(common::WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("addr=").nth(1) {
                return rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("starts in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = format!("http://{addr}");
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
        .body(r#"{"id":"cli-run"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(
        res.json::<serde_json::Value>().await.expect("json"),
        json!({"id": "cli-run"})
    );
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/worker/websocket?vsn=2.0.0"))
            .await
            .expect("socket");
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
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
    let _ = child.kill().await;
}
