//! Shared helpers for the mock's integration tests: a raw Phoenix client over
//! tokio-tungstenite and small HTTP helpers.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openfn_lightning_mock::{Config, Server, ServerHandle};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Starts a mock with auth off and fast timers.
pub async fn start() -> ServerHandle {
    start_with(Config::default()).await
}

pub async fn start_with(config: Config) -> ServerHandle {
    Server::start(config).await.expect("mock starts")
}

/// Something the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A text frame, parsed.
    Text(Value),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame: code and reason.
    Close(Option<(u16, String)>),
}

/// A raw Phoenix client.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_ref: u64,
    /// Frames received while waiting for something else.
    pub buffered: VecDeque<Incoming>,
}

impl Client {
    /// Connects to `ws://<addr>/worker/websocket?<query>`.
    pub async fn connect(mock: &ServerHandle, query: &str) -> Client {
        Self::try_connect(mock, query)
            .await
            .expect("websocket connects")
    }

    pub async fn try_connect(
        mock: &ServerHandle,
        query: &str,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/websocket?{query}", mock.ws_url());
        let (ws, _) = connect_async(url).await?;
        Ok(Client {
            ws,
            next_ref: 0,
            buffered: VecDeque::new(),
        })
    }

    pub fn fresh_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub async fn send_raw(&mut self, msg: Message) {
        self.ws.send(msg).await.expect("send");
    }

    pub async fn send_frame(&mut self, frame: Value) {
        self.send_raw(Message::Text(frame.to_string().into())).await;
    }

    /// The next thing the server sends (None when the connection ended without a close).
    pub async fn recv(&mut self) -> Option<Incoming> {
        if let Some(m) = self.buffered.pop_front() {
            return Some(m);
        }
        self.recv_wire().await
    }

    async fn recv_wire(&mut self) -> Option<Incoming> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answers in time");
            return match msg {
                None | Some(Err(_)) => None,
                Some(Ok(Message::Text(t))) => Some(Incoming::Text(
                    serde_json::from_str(t.as_str()).expect("json frame"),
                )),
                Some(Ok(Message::Binary(b))) => Some(Incoming::Binary(b.to_vec())),
                Some(Ok(Message::Close(c))) => Some(Incoming::Close(
                    c.map(|c| (u16::from(c.code), c.reason.to_string())),
                )),
                Some(Ok(_)) => continue,
            };
        }
    }

    /// Waits for the reply to `r#ref`, buffering anything else. Returns the reply frame
    /// (text) or the binary frame.
    pub async fn reply_to(&mut self, r#ref: &str) -> Incoming {
        loop {
            let msg = self.recv_wire().await.expect("connection stays open");
            let matches = match &msg {
                Incoming::Text(v) => v[1] == json!(r#ref) && v[3] == "phx_reply",
                Incoming::Binary(b) => binary_reply_ref(b).as_deref() == Some(r#ref),
                Incoming::Close(_) => panic!("closed while waiting for reply {ref}: {msg:?}"),
            };
            if matches {
                return msg;
            }
            self.buffered.push_back(msg);
        }
    }

    /// Pushes `event` on `topic` and returns the reply payload `{status, response}`.
    pub async fn call(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> Value {
        let r = self.fresh_ref();
        self.send_frame(json!([join_ref, r, topic, event, payload]))
            .await;
        match self.reply_to(&r).await {
            Incoming::Text(v) => {
                assert_eq!(v[0], json!(join_ref), "reply carries the join_ref");
                assert_eq!(v[2], json!(topic));
                v[4].clone()
            }
            other => panic!("expected a text reply, got {other:?}"),
        }
    }

    /// Joins `topic`; returns (join_ref, reply payload).
    pub async fn join(&mut self, topic: &str, payload: Value) -> (String, Value) {
        let r = self.fresh_ref();
        self.send_frame(json!([r, r, topic, "phx_join", payload]))
            .await;
        match self.reply_to(&r).await {
            Incoming::Text(v) => (r, v[4].clone()),
            other => panic!("expected a join reply, got {other:?}"),
        }
    }

    /// Waits for a server push named `event`.
    pub async fn push(&mut self, event: &str) -> Value {
        let pos = self
            .buffered
            .iter()
            .position(|m| matches!(m, Incoming::Text(v) if v[3] == event));
        if let Some(Incoming::Text(v)) = pos.and_then(|p| self.buffered.remove(p)) {
            return v;
        }
        loop {
            match self.recv_wire().await.expect("connection stays open") {
                Incoming::Text(v) if v[3] == event => return v,
                other => self.buffered.push_back(other),
            }
        }
    }

    /// Joins worker:queue with the kit's default params.
    pub async fn join_queue(&mut self) -> String {
        let (join_ref, reply) = self
            .join(
                "worker:queue",
                json!({"capacity": 5, "queues": {"manual>*": 5}}),
            )
            .await;
        assert_eq!(reply, json!({"status": "ok", "response": {}}));
        join_ref
    }

    /// Claims with demand 1 on `*`; returns the runs.
    pub async fn claim(&mut self, join_ref: &str, demand: u64, queues: &[&str]) -> Vec<Value> {
        let reply = self
            .call(
                Some(join_ref),
                "worker:queue",
                "claim",
                json!({"demand": demand, "worker_name": null, "queues": queues}),
            )
            .await;
        assert_eq!(reply["status"], "ok", "{reply}");
        reply["response"]["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// The ref of a binary reply frame.
pub fn binary_reply_ref(bytes: &[u8]) -> Option<String> {
    if bytes.first() != Some(&1) || bytes.len() < 5 {
        return None;
    }
    let join_len = usize::from(bytes[1]);
    let ref_len = usize::from(bytes[2]);
    let start = 5 + join_len;
    bytes
        .get(start..start + ref_len)
        .map(|r| String::from_utf8_lossy(r).into_owned())
}

/// Splits a binary reply into (join_ref, ref, topic, status, body).
pub fn split_binary_reply(bytes: &[u8]) -> (String, String, String, String, Vec<u8>) {
    assert_eq!(bytes[0], 1, "a reply frame");
    let lens: Vec<usize> = bytes[1..5].iter().map(|b| usize::from(*b)).collect();
    let mut at = 5;
    let mut parts = Vec::new();
    for len in lens {
        parts.push(String::from_utf8(bytes[at..at + len].to_vec()).expect("utf8"));
        at += len;
    }
    (
        parts[0].clone(),
        parts[1].clone(),
        parts[2].clone(),
        parts[3].clone(),
        bytes[at..].to_vec(),
    )
}

/// A plan with two jobs in a chain, a trigger, a credential and a dataclip.
pub fn plan(id: &str) -> Value {
    json!({
        "id": id,
        "triggers": [{"id": "t1"}],
        "jobs": [
            {"id": "j1", "name": "first", "adaptor": "@openfn/language-common@1.0.0", "body": "fn(s => s)", "credential_id": "c"},
            {"id": "j2", "name": "second", "adaptor": "@openfn/language-common@1.0.0", "body": "fn(s => s)", "credential_id": null}
        ],
        "edges": [
            {"id": "e1", "source_trigger_id": "t1", "source_job_id": null, "target_job_id": "j1", "condition": "always", "enabled": true},
            {"id": "e2", "source_trigger_id": null, "source_job_id": "j1", "target_job_id": "j2", "condition": "on_job_success", "enabled": true}
        ],
        "starting_node_id": "t1",
        "dataclip_id": "d",
        "options": {"output_dataclips": true, "run_timeout_ms": 60000}
    })
}

/// HTTP helpers.
pub fn http() -> reqwest::Client {
    // reqwest is built without a bundled rustls provider; tests use ring. Installing twice is
    // harmless (the second attempt reports the existing one).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn post(mock: &ServerHandle, path: &str, body: Value) -> (u16, Value) {
    let request = http().post(format!("{}{path}", mock.url())).json(&body);
    status_and_body(request).await
}

pub async fn get(mock: &ServerHandle, path: &str) -> (u16, Value) {
    status_and_body(http().get(format!("{}{path}", mock.url()))).await
}

/// Sends `request`; the status and the body, as JSON when it is JSON, else as a string.
async fn status_and_body(request: reqwest::RequestBuilder) -> (u16, Value) {
    let res = request.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Microsecond timestamp string.
pub fn ts() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    now.as_micros().to_string()
}

/// Polls `f` until it returns Some, failing after [`WAIT`].
pub async fn eventually<T>(mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The smallest plan `POST /run` accepts: a trigger and one job (id generated when `None`).
pub fn tiny(id: Option<&str>) -> Value {
    let mut plan = json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j", "adaptor": "@openfn/language-common@1.0.0", "body": "fn(s => s)"}],
        "edges": [{"id": "e", "source_trigger_id": "t", "target_job_id": "j", "condition": "always"}]
    });
    if let (Some(id), Some(obj)) = (id, plan.as_object_mut()) {
        obj.insert("id".into(), json!(id));
    }
    plan
}
