//! The dashboard in a real browser: headless Chromium loads `/`, a run is enqueued and then
//! completed by a raw WebSocket worker, and the page shows it appear and complete live (read
//! through the Chrome DevTools Protocol). Needs Debian's `chromium`; set
//! `MOCK_DASHBOARD_BROWSER=skip` to skip on a machine without it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Client, WAIT, eventually, plan, post, start, ts};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

fn browser() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// A DevTools Protocol session on one page.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl Page {
    async fn eval(&mut self, expression: &str) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": "Runtime.evaluate", "params": {"expression": expression, "returnByValue": true}});
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("cdp send");
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("cdp answers")
                .expect("cdp open")
                .expect("cdp message");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).expect("cdp json");
                if v["id"] == id {
                    return v["result"]["result"]["value"].clone();
                }
            }
        }
    }

    async fn wait_for(&mut self, expression: &str, expected: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let got = self.eval(expression).await;
            if got == expected {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{expression}: got {got}, wanted {expected}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn dashboard_shows_runs_live_in_chromium() {
    let Some(browser) = browser() else {
        assert_eq!(
            std::env::var("MOCK_DASHBOARD_BROWSER").as_deref(),
            Ok("skip"),
            "chromium is needed (apt-get install -y chromium), or set MOCK_DASHBOARD_BROWSER=skip"
        );
        return;
    };
    let mock = start().await;
    let profile = tempfile::tempdir().expect("tempdir");
    let mut child = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{}/", mock.url()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    // "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>"
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let devtools = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.split("DevTools listening on ").nth(1) {
                return url.trim().to_owned();
            }
        }
        panic!("chromium exited without a DevTools endpoint");
    })
    .await
    .expect("chromium starts in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let http_base = devtools
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .map(|host| format!("http://{host}"))
        .expect("devtools host");
    let page_ws = eventually(async || {
        let list: Value = common::http()
            .get(format!("{http_base}/json/list"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        list.as_array()?
            .iter()
            .find(|t| {
                t["type"] == "page"
                    && t["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with(&mock.url()))
            })
            .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
    })
    .await;
    let (ws, _) = tokio_tungstenite::connect_async(page_ws)
        .await
        .expect("cdp connects");
    let mut page = Page { ws, next_id: 0 };
    page.wait_for("document.body.dataset.rendered", "client")
        .await;
    // The live feed is connected before anything happens.
    page.wait_for(
        "String(document.getElementById('runs').textContent.includes('no runs'))",
        "true",
    )
    .await;
    page.wait_for("String(source.readyState)", "1").await;

    post(&mock, "/run", plan("dash-run")).await;
    let status = "document.querySelector('#run-dash-run .status')?.textContent ?? ''";
    page.wait_for(status, "queued").await;

    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    c.claim(&q, 1, &["*"]).await;
    page.wait_for(status, "claimed").await;
    page.wait_for("document.getElementById('workers').rows.length + ''", "1")
        .await;
    let (j, _) = c.join("run:dash-run", json!({"token": "x.y.z"})).await;
    let j = Some(j.as_str());
    let t = "run:dash-run";
    c.call(j, t, "run:start", json!({"timestamp": ts()})).await;
    page.wait_for(status, "started").await;
    c.call(
        j,
        t,
        "step:start",
        json!({"step_id": "s1", "job_id": "j1", "timestamp": ts()}),
    )
    .await;
    c.call(j, t, "run:log", json!({"message": ["hello from the job"], "source": "JOB", "level": "info", "timestamp": ts(), "step_id": "s1"})).await;
    c.call(j, t, "step:complete", json!({"step_id": "s1", "job_id": "j1", "reason": "success", "output_dataclip_id": "o1", "output_dataclip": "{\"data\":{\"answer\":42}}", "timestamp": ts()})).await;
    c.call(
        j,
        t,
        "run:complete",
        json!({"reason": "success", "final_state": {"data": {"answer": 42}}, "timestamp": ts()}),
    )
    .await;
    page.wait_for(status, "complete").await;
    let details = page
        .eval("document.querySelector('details[data-run=\"dash-run\"]').textContent")
        .await;
    let details = details.as_str().expect("details text");
    assert!(details.contains("1 steps, 1 log lines"), "{details}");
    assert!(details.contains("hello from the job"), "{details}");
    assert!(details.contains("\"answer\": 42"), "{details}");
    assert!(details.contains("s1"), "{details}");

    let _ = child.kill().await;
    mock.shutdown().await;
}
