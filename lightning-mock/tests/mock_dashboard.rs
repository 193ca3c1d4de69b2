//! The dashboard in a real browser: headless Chromium loads `/` after one run (with a failed
//! step) has completed, then a second run is enqueued and completed by a raw WebSocket worker,
//! and the page shows it appear and complete live (read through the Chrome DevTools
//! Protocol): the events panel starts with the history, the newest runs are open, a failed
//! step is not plain green, times and durations are human, errors read `Type: message`, the
//! worker is named in `--no-auth` mode, and each run's workflow is drawn as an SVG graph.
//! Needs Debian's `chromium`; set `MOCK_DASHBOARD_BROWSER=skip` to skip on a machine without
//! it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Client, WAIT, eventually, plan, post, start, ts};
use futures_util::{SinkExt, StreamExt};
use openfn_lightning_mock::ServerHandle;
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

/// Starts Chromium on `url` and attaches to the page.
async fn open_page(
    browser: &str,
    mock: &ServerHandle,
) -> (tokio::process::Child, Page, tempfile::TempDir) {
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
    (child, Page { ws, next_id: 0 }, profile)
}

/// One step a raw worker reports: (step id, job id, reason, error type, error message,
/// duration in ms).
type Step<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    u64,
);

/// Joins `run:<id>` and reports the run's steps and its completion, as a worker would.
async fn run_through(c: &mut Client, id: &str, steps: &[Step<'_>], reason: &str) {
    let t = format!("run:{id}");
    let (j, _) = c.join(&t, json!({"token": "x.y.z"})).await;
    let j = Some(j.as_str());
    c.call(j, &t, "run:start", json!({"timestamp": ts()})).await;
    for (step, job, step_reason, error_type, error_message, duration) in steps {
        c.call(
            j,
            &t,
            "step:start",
            json!({"step_id": step, "job_id": job, "timestamp": ts()}),
        )
        .await;
        c.call(j, &t, "run:log", json!({"message": [format!("hello from {job}")], "source": "JOB", "level": "info", "timestamp": ts(), "step_id": step})).await;
        let reply = c.call(j, &t, "step:complete", json!({"step_id": step, "job_id": job, "reason": step_reason, "error_type": error_type, "error_message": error_message, "duration": duration, "output_dataclip_id": format!("o-{step}"), "output_dataclip": "{\"data\":{\"answer\":42}}", "timestamp": ts()})).await;
        assert_eq!(reply["status"], "ok", "{reply}");
    }
    let reply = c
        .call(
            j,
            &t,
            "run:complete",
            json!({"reason": reason, "final_state": {"data": {"answer": 42}}, "timestamp": ts()}),
        )
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
}

async fn text(page: &mut Page, selector: &str) -> String {
    let expr = format!(
        "document.querySelector({})?.textContent ?? ''",
        json!(selector)
    );
    page.eval(&expr)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
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
    // Before the page opens: a worker (no-auth: named by its token) polls an empty queue,
    // then runs a plan whose first step fails and whose second succeeds.
    let token = openfn_lightning_mock::worker_token("any", "dash-worker").expect("token");
    let mut c = Client::connect(&mock, &format!("token={token}")).await;
    let q = c.join_queue().await;
    assert!(c.claim(&q, 1, &["*"]).await.is_empty());
    post(&mock, "/run", plan("dash-partial")).await;
    c.claim(&q, 1, &["*"]).await;
    let partial: [Step<'_>; 2] = [
        (
            "p1",
            "j1",
            "fail",
            Some("TypeError"),
            Some("x is undefined"),
            1234,
        ),
        ("p2", "j2", "success", None, None, 5),
    ];
    run_through(&mut c, "dash-partial", &partial, "success").await;

    let (mut child, mut page, _profile) = open_page(browser, &mock).await;
    page.wait_for("document.body.dataset.rendered", "client")
        .await;
    assert_history_rendered(&mut page).await;
    follow_a_live_run(&mut page, &mock, &mut c, &q).await;
    assert_finished_run_shown(&mut page).await;

    let _ = child.kill().await;
    mock.shutdown().await;
}

/// The JS expression for the class of workflow node `id` in run `run`'s graph.
fn node(run: &str, id: &str) -> String {
    format!(
        "document.querySelector('details[data-run=\"{run}\"] svg .node[data-node=\"{id}\"]')?.getAttribute('class') ?? ''"
    )
}

/// What happened before the page opened: the events panel without empty claims, with times;
/// the partly failed run's status, outcome, error, durations and graph.
async fn assert_history_rendered(page: &mut Page) {
    // The events panel starts with what happened before, without empty claims, with times.
    let feed = text(page, "#feed").await;
    assert!(
        feed.contains("run:enqueued") && feed.contains("dash-partial"),
        "{feed}"
    );
    assert!(feed.contains("step:complete"), "{feed}");
    assert!(
        !feed.contains(r#""payload":[]"#),
        "empty claims in the feed: {feed}"
    );
    let clock = regex_like_clock(feed.lines().next().unwrap_or_default());
    assert!(clock, "feed lines start with a time: {feed}");
    // A success with a failed step is not plain green; its error reads `Type: message`.
    let class = "document.querySelector('#run-dash-partial .status')?.className ?? ''";
    page.wait_for(class, "status complete warn").await;
    let outcome = text(page, "#run-dash-partial .outcome").await;
    assert_eq!(outcome, "success, 1 of 2 steps failed");
    let details = text(page, r#"details[data-run="dash-partial"]"#).await;
    assert!(details.contains("TypeError: x is undefined"), "{details}");
    assert!(
        details.contains("1.23 s") && details.contains("5 ms"),
        "{details}"
    );
    page.wait_for(&node("dash-partial", "j1"), "node job fail")
        .await;
    page.wait_for(&node("dash-partial", "j2"), "node job success")
        .await;
}

/// A run queued, claimed by the worker (shown by name) and completed, followed live.
async fn follow_a_live_run(page: &mut Page, mock: &ServerHandle, c: &mut Client, q: &str) {
    // The live feed is connected before anything new happens.
    page.wait_for("String(source.readyState)", "1").await;
    post(mock, "/run", plan("dash-run")).await;
    let status = "document.querySelector('#run-dash-run .status')?.textContent ?? ''";
    page.wait_for(status, "queued").await;
    c.claim(q, 1, &["*"]).await;
    page.wait_for(status, "claimed").await;
    page.wait_for("document.getElementById('workers').rows.length + ''", "1")
        .await;
    page.wait_for(
        "document.querySelector('#run-dash-run .worker')?.textContent",
        "dash-worker",
    )
    .await;
    run_through(
        c,
        "dash-run",
        &[("s1", "j1", "success", None, None, 250)],
        "success",
    )
    .await;
    page.wait_for(status, "complete").await;
    page.wait_for(
        "document.querySelector('#run-dash-run .status')?.className ?? ''",
        "status complete ok",
    )
    .await;
}

/// The finished runs open by themselves; the live run's details, human times and graph.
async fn assert_finished_run_shown(page: &mut Page) {
    // The newest runs are open without a click.
    for run in ["dash-run", "dash-partial"] {
        let open = format!("String(document.querySelector('details[data-run=\"{run}\"]')?.open)");
        page.wait_for(&open, "true").await;
    }
    let details = text(page, r#"details[data-run="dash-run"]"#).await;
    assert!(details.contains("1 steps, 1 log lines"), "{details}");
    assert!(details.contains("hello from j1"), "{details}");
    assert!(details.contains("\"answer\": 42"), "{details}");
    assert!(details.contains("250 ms"), "{details}");
    // Human times: no raw microsecond timestamps, a wall-clock enqueue time.
    assert!(!has_long_number(&details), "a raw timestamp: {details}");
    let enqueued = text(page, "#run-dash-run .enqueued").await;
    assert!(regex_like_clock(&enqueued), "{enqueued}");
    let took = text(page, "#run-dash-run .took").await;
    assert!(took.ends_with(" ms") || took.ends_with(" s"), "{took}");
    // The workflow graph: the trigger and j1 ran, j2 did not; the taken edge is marked.
    page.wait_for(&node("dash-run", "t1"), "node trigger ran")
        .await;
    page.wait_for(&node("dash-run", "j1"), "node job success")
        .await;
    page.wait_for(&node("dash-run", "j2"), "node job notrun")
        .await;
    let edges =
        "String(document.querySelectorAll('details[data-run=\"dash-run\"] svg path.edge').length)";
    page.wait_for(edges, "2").await;
    let taken = "document.querySelector('details[data-run=\"dash-run\"] svg path.edge.taken')?.dataset.edge ?? ''";
    page.wait_for(taken, "t1-j1").await;
}

/// Whether `s` starts with `HH:MM:SS.mmm`.
fn regex_like_clock(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 12
        && [0, 1, 3, 4, 6, 7, 9, 10, 11]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
        && b[2] == b':'
        && b[5] == b':'
        && b[8] == b'.'
}

/// Whether `s` holds a run of 13 or more digits (an epoch in ms or µs).
fn has_long_number(s: &str) -> bool {
    s.split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 13)
}

/// The page is self-contained: no stylesheet, script or image from elsewhere (the only URL in
/// it is the SVG namespace, which is a name, not a fetch).
#[tokio::test]
async fn the_dashboard_loads_nothing_from_elsewhere() {
    let mock = start().await;
    let (status, page) = common::get(&mock, "/").await;
    assert_eq!(status, 200);
    let page = page.as_str().expect("html");
    assert!(
        page.contains(r#"<svg class="graph""#),
        "the graph is drawn inline"
    );
    for needle in ["<link", "src=", "@import", "url(http", "//cdn", "https://"] {
        assert!(!page.contains(needle), "the page refers to {needle}");
    }
    let urls: Vec<&str> = page
        .match_indices("http://")
        .map(|(i, _)| &page[i..(i + 26).min(page.len())])
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.starts_with("http://www.w3.org/2000/svg")),
        "{urls:?}"
    );
    mock.shutdown().await;
}
