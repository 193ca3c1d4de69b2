//! Test harness: an in-process lightning-mock plus an in-process worker wired to it, and
//! helpers that wait for outcomes with timeouts.
//!
//! The worker runs the real engine by default: [`EngineExecutor`] with its children started
//! from the `ws-worker` binary (the shipped child code), on an empty repo directory, so what
//! Lightning records is what users get. [`start_mock_engine`] starts the worker on
//! `MockExecutor` instead; only tests about the worker itself (claims, sockets, workloops,
//! the outbox) may use it, and each says why.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of the helpers"
)]

pub mod binary;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use openfn_engine::ChildCommand;
use openfn_lightning_mock::{Config as MockConfig, Event, Server, ServerHandle};
use openfn_ws_worker::config::{Args, Config};
use openfn_ws_worker::engine::EngineExecutor;
use openfn_ws_worker::executor::{Executor, MockExecutor};
use openfn_ws_worker::{Worker, http};
use serde_json::{Value, json};
use tokio::sync::broadcast;

pub struct Harness {
    pub mock: ServerHandle,
    pub worker: Worker,
    pub http: SocketAddr,
    pub events: broadcast::Receiver<Event>,
    /// The real engine (`None` on the mock engine); its children are stopped on drop.
    pub engine: Option<Arc<EngineExecutor>>,
    /// The engine's (empty) adaptor repository.
    _repo: Option<tempfile::TempDir>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(engine) = &self.engine {
            engine.destroy();
        }
    }
}

/// Which engine the in-process worker runs.
pub enum EngineKind {
    /// `EngineExecutor`: child processes of the `ws-worker` binary.
    Real,
    /// `MockExecutor`: for tests about the worker itself only.
    Mock,
    /// A test's own executor (for tests about the worker itself only).
    Custom(Arc<dyn Executor>),
}

/// The engine children: the `ws-worker` binary in child mode, as the shipped worker starts them.
pub fn child_command() -> ChildCommand {
    ChildCommand::binary(env!("CARGO_BIN_EXE_ws-worker"))
}

pub fn worker_config(ws_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Config {
    let mut argv = vec![
        "ws-worker".to_string(),
        "-l".into(),
        ws_url.to_string(),
        "--debug".into(),
        "--backoff=0.01/0.05".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let args = Args::try_parse_from(argv).expect("args");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::resolve(args, &|k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
    .expect("config")
}

pub async fn start(mock_config: MockConfig, extra: &[&str]) -> Harness {
    start_env(mock_config, extra, &[]).await
}

pub async fn start_env(mock_config: MockConfig, extra: &[&str], env: &[(&str, &str)]) -> Harness {
    start_with(mock_config, extra, env, |_| {}).await
}

/// Like [`start_env`], letting the test adjust the parsed config.
pub async fn start_with(
    mock_config: MockConfig,
    extra: &[&str],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut Config),
) -> Harness {
    start_on(EngineKind::Real, mock_config, extra, env, adjust).await
}

/// The worker on `MockExecutor`: only for tests about the worker itself (the caller says why).
pub async fn start_mock_engine(mock_config: MockConfig, extra: &[&str]) -> Harness {
    start_on(EngineKind::Mock, mock_config, extra, &[], |_| {}).await
}

/// Starts the mock and a worker on `engine`.
pub async fn start_on(
    engine: EngineKind,
    mock_config: MockConfig,
    extra: &[&str],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut Config),
) -> Harness {
    let mock = Server::start(mock_config).await.expect("mock starts");
    let events = mock.subscribe();
    let mut config = worker_config(&mock.ws_url(), extra, env);
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http_addr = listener.local_addr().expect("addr");
    let (executor, real, repo): (Arc<dyn Executor>, _, _) = match engine {
        EngineKind::Real => {
            let repo = tempfile::tempdir().expect("repo dir");
            config.repo_dir = Some(repo.path().to_path_buf());
            let real = Arc::new(
                EngineExecutor::with_child(&config, Some(child_command())).expect("engine"),
            );
            (real.clone(), Some(real), Some(repo))
        }
        EngineKind::Mock => (Arc::new(MockExecutor), None, None),
        EngineKind::Custom(executor) => (executor, None, None),
    };
    let worker = Worker::start(config, executor).expect("worker starts");
    tokio::spawn(http::serve(listener, worker.clone()));
    Harness {
        mock,
        worker,
        http: http_addr,
        events,
        engine: real,
        _repo: repo,
    }
}

/// A one-job plan for the real engine: `code` is the job (no adaptor, so nothing is installed;
/// `export default [...]` or plain operations).
pub fn job(code: &str) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j1", "name": "job one", "adaptor": "", "body": code, "credential_id": null}],
        "edges": [{"id": "e1", "source_trigger_id": "t", "source_job_id": null, "target_job_id": "j1", "condition": "always", "enabled": true}],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

/// A one-job plan for the mock engine (`--mock` / `MockExecutor`): `body` is the JSON the
/// mock engine interprets (see `MockExecutor`'s control keys).
pub fn mock_job(body: Value) -> Value {
    let mut plan = job(&body.to_string());
    plan["jobs"][0]["adaptor"] = json!("@openfn/language-common@1.0.0");
    plan
}

impl Harness {
    /// Waits until the mock reports the run final; returns the run view.
    pub async fn wait_final(&self, id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(run) = self.mock.run(id)
                && matches!(run["status"].as_str(), Some("complete") | Some("lost"))
            {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {id} did not finish: {:?}",
                self.mock.run(id)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `pred` holds.
    pub async fn wait_until(&self, what: &str, within: Duration, mut pred: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !pred() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Drains the mock's event bus so far.
    pub fn drain_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// Log messages the mock stored for a run, each joined to one string.
    pub fn log_texts(run: &Value) -> Vec<String> {
        run["logs"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|line| {
                        line["message"]
                            .as_array()
                            .map(|m| {
                                m.iter()
                                    .map(|p| {
                                        p.as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| p.to_string())
                                    })
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn http_get(&self, path: &str) -> (u16, String) {
        http_request(self.http, "GET", path).await
    }
}

/// A minimal HTTP/1.1 client (no extra dependency): returns status and body.
pub async fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_body(addr, method, path, None)
        .await
        .unwrap_or((0, String::new()))
}

/// Like [`http_request`] with an optional JSON body; `None` if the connection failed.
pub async fn http_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}
