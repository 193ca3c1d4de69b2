//! Harness for black-box tests: the `lightning-mock` and `ws-worker` binaries spawned as
//! processes and driven over HTTP, as a deployment runs them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use super::{http_body, http_request};

pub fn mock_binary() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let worker = PathBuf::from(env!("CARGO_BIN_EXE_ws-worker"));
        let path = worker.with_file_name("lightning-mock");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "build",
                "-p",
                "openfn-lightning-mock",
                "--bin",
                "lightning-mock",
            ])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building lightning-mock failed");
        assert!(path.exists(), "no binary at {}", path.display());
        path
    })
    .clone()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Procs {
    pub mock: Child,
    pub worker: Child,
    pub mock_addr: SocketAddr,
    pub worker_addr: SocketAddr,
    /// The worker's stdout (its log), written to a file.
    pub log: tempfile::NamedTempFile,
}

impl Procs {
    /// The worker's log so far.
    pub fn worker_log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// A Prometheus counter or gauge from `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, text) = http_request(self.worker_addr, "GET", "/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Posts `body` to the mock's `/faults`.
    pub async fn faults(&self, body: &Value) {
        let (code, text) = http_body(self.mock_addr, "POST", "/faults", Some(body))
            .await
            .expect("faults");
        assert_eq!(code, 200, "{text}");
    }
}

pub async fn wait_http(addr: SocketAddr, path: &str, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((code, _)) = http_body(addr, "GET", path, None).await
            && code == want
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr}{path} never answered {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn spawn(extra_worker_args: &[&str]) -> Procs {
    spawn_with(&[], extra_worker_args).await
}

/// As [`spawn`], with extra arguments for the mock too.
pub async fn spawn_with(extra_mock_args: &[&str], extra_worker_args: &[&str]) -> Procs {
    let mock_port = free_port();
    let mock = Command::new(mock_binary())
        .args([
            "--port",
            &mock_port.to_string(),
            "--secret",
            "s3cret",
            "--log",
            "warn",
        ])
        .args(extra_mock_args)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mock spawns");
    let mock_addr: SocketAddr = format!("127.0.0.1:{mock_port}").parse().expect("addr");
    wait_http(mock_addr, "/livez", 200).await;
    let worker_port = free_port();
    let mut args = vec![
        format!("-l ws://localhost:{mock_port}/worker"),
        format!("--port={worker_port}"),
        "--backoff=0.01/0.1".into(),
    ];
    // `{mock_port}` in an argument stands for the mock's port
    args.extend(
        extra_worker_args
            .iter()
            .map(|s| s.replace("{mock_port}", &mock_port.to_string())),
    );
    let log = tempfile::NamedTempFile::new().expect("log file");
    let worker = Command::new(env!("CARGO_BIN_EXE_ws-worker"))
        .args(&args)
        .env("WORKER_SECRET", "s3cret")
        .env("WORKER_LOG_LEVEL", "info")
        .stdout(Stdio::from(log.reopen().expect("log file")))
        .kill_on_drop(true)
        .spawn()
        .expect("worker spawns");
    let worker_addr: SocketAddr = format!("127.0.0.1:{worker_port}").parse().expect("addr");
    wait_http(worker_addr, "/readyz", 200).await;
    Procs {
        mock,
        worker,
        mock_addr,
        worker_addr,
        log,
    }
}

pub async fn post_run(p: &Procs, plan: &Value) -> String {
    let (code, body) = http_body(p.mock_addr, "POST", "/run", Some(plan))
        .await
        .expect("post run");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    v["id"].as_str().expect("id").to_string()
}

pub async fn run_view(p: &Procs, id: &str) -> Value {
    let (_, body) = http_request(p.mock_addr, "GET", &format!("/runs/{id}")).await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

pub async fn wait_status(p: &Procs, id: &str, status: &str) -> Value {
    wait_status_within(p, id, status, Duration::from_secs(20)).await
}

pub async fn wait_status_within(p: &Procs, id: &str, status: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v = run_view(p, id).await;
        if v["status"] == status {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never reached {status}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the run's first step has started (the mock records a step at `step:start`).
pub async fn wait_step_started(p: &Procs, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = run_view(p, id).await;
        if v["steps"].as_array().is_some_and(|s| !s.is_empty()) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} never started a step: {v}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribes to the mock's SSE stream (`GET /events`) and collects it until `until` appears
/// in it or `within` passes; the subscription is open when this returns.
pub async fn record_events(
    addr: SocketAddr,
    until: String,
    within: Duration,
) -> tokio::task::JoinHandle<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("sse connect");
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .expect("sse request");
    // the response head: the stream is subscribed once it has come
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if String::from_utf8_lossy(&seen).contains(&until) {
                break;
            }
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    })
}
