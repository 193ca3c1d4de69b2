//! The Phoenix Channels socket client over tokio-tungstenite (§1).
//!
//! One actor task owns the WebSocket. It reconnects forever with linear backoff and jitter,
//! sends heartbeats every 30 s (only enforcing their replies once the peer has shown it answers
//! them, so the mock's silence is harmless), and correlates replies by `ref` whether they come
//! as `phx_reply` or `chan_reply_<ref>`. Every connection gets a new *epoch*; channels belong
//! to an epoch, and callers rejoin after a reconnect (see `channel.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openfn_lexicon::phoenix::{Frame, Reply};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::metrics::Metrics;

/// The protocol version the worker speaks.
pub const API_VERSION: &str = "1.2";

/// Why a push got no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No reply within the timeout.
    #[error("timeout")]
    Timeout,
    /// The socket is down, or dropped before the reply came.
    #[error("disconnected")]
    Disconnected,
    /// The socket was shut down for good.
    #[error("socket closed")]
    Closed,
}

/// Socket settings.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Base URL, e.g. `ws://localhost:4000/worker`.
    pub base_url: String,
    /// The worker JWT.
    pub token: String,
    /// Sent as `worker_version`.
    pub worker_version: String,
    /// Extra CA certificates (PEM) for `wss://`.
    pub ca_file: Option<PathBuf>,
    /// Heartbeat period (30 s).
    pub heartbeat: Duration,
    /// Reconnect backoff step: attempt n waits n × step (plus jitter), capped at 30 steps.
    pub reconnect_step: Duration,
}

/// Connection state published by the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnState {
    /// Connection counter: 0 before the first connect, +1 per connection.
    pub epoch: u64,
    /// Whether that connection is up.
    pub connected: bool,
}

enum Cmd {
    Send {
        frame: Frame,
        epoch: u64,
        reply: Option<oneshot::Sender<Result<Reply, PushError>>>,
    },
    Forget(String),
    Close,
}

/// A handle to the socket actor. Cheap to clone.
#[derive(Clone)]
pub struct Socket {
    cmd: mpsc::UnboundedSender<Cmd>,
    state: watch::Receiver<ConnState>,
    next_ref: Arc<AtomicU64>,
    subs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Socket {
    /// Starts the actor; it connects in the background and keeps reconnecting until
    /// [`Socket::close`].
    pub fn start(config: SocketConfig, metrics: Arc<Metrics>) -> Socket {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ConnState {
            epoch: 0,
            connected: false,
        });
        let subs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>> = Arc::default();
        let socket = Socket {
            cmd: cmd_tx,
            state: state_rx,
            next_ref: Arc::new(AtomicU64::new(1)),
            subs: subs.clone(),
        };
        tokio::spawn(actor(config, cmd_rx, state_tx, subs, metrics));
        socket
    }

    /// The current connection state.
    pub fn state(&self) -> ConnState {
        *self.state.borrow()
    }

    /// A receiver of connection state changes.
    pub fn watch(&self) -> watch::Receiver<ConnState> {
        self.state.clone()
    }

    /// Waits until connected with an epoch newer than `after`; returns the new epoch.
    /// Returns `Err(Closed)` once the socket has been shut down.
    pub async fn connected_after(&self, after: u64) -> Result<u64, PushError> {
        let mut rx = self.state.clone();
        loop {
            let s = *rx.borrow_and_update();
            if s.connected && s.epoch > after {
                return Ok(s.epoch);
            }
            if self.cmd.is_closed() {
                return Err(PushError::Closed);
            }
            if rx.changed().await.is_err() {
                return Err(PushError::Closed);
            }
        }
    }

    /// A fresh ref.
    pub fn make_ref(&self) -> String {
        self.next_ref.fetch_add(1, Ordering::Relaxed).to_string()
    }

    /// Receives server pushes (`work-available`, `phx_error`, `phx_close`…) for `topic`.
    /// A later subscription to the same topic replaces the earlier one.
    pub fn subscribe(&self, topic: &str) -> mpsc::UnboundedReceiver<Frame> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut subs) = self.subs.lock() {
            subs.insert(topic.to_string(), tx);
        }
        rx
    }

    /// Drops the subscription of `topic`.
    pub fn unsubscribe(&self, topic: &str) {
        if let Ok(mut subs) = self.subs.lock() {
            subs.remove(topic);
        }
    }

    /// Sends `frame` (its `ref` is set here) on connection `epoch` and waits for the reply.
    pub async fn request(
        &self,
        mut frame: Frame,
        epoch: u64,
        timeout: Duration,
    ) -> Result<Reply, PushError> {
        let r = match &frame.r#ref {
            Some(r) => r.clone(),
            None => {
                let r = self.make_ref();
                frame.r#ref = Some(r.clone());
                r
            }
        };
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Send {
                frame,
                epoch,
                reply: Some(tx),
            })
            .map_err(|_| PushError::Closed)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PushError::Closed),
            Err(_) => {
                let _ = self.cmd.send(Cmd::Forget(r));
                Err(PushError::Timeout)
            }
        }
    }

    /// Joins `topic` on connection `epoch`; returns the join ref and the reply.
    pub async fn join(
        &self,
        topic: &str,
        params: Value,
        epoch: u64,
        timeout: Duration,
    ) -> Result<(String, Reply), PushError> {
        let r = self.make_ref();
        let frame = Frame::join(&r, topic, params);
        let reply = self.request(frame, epoch, timeout).await?;
        Ok((r, reply))
    }

    /// Pushes `event` to a joined channel and waits for the reply.
    pub async fn push(
        &self,
        topic: &str,
        join_ref: &str,
        event: &str,
        payload: Value,
        epoch: u64,
        timeout: Duration,
    ) -> Result<Reply, PushError> {
        let r = self.make_ref();
        let frame = Frame::new(topic, event, payload).with_refs(Some(join_ref), Some(&r));
        self.request(frame, epoch, timeout).await
    }

    /// Leaves a channel without waiting; errors are ignored (the mock errors on leave).
    pub fn leave(&self, topic: &str, join_ref: &str, epoch: u64) {
        let r = self.make_ref();
        let frame = Frame::new(topic, "phx_leave", serde_json::json!({}))
            .with_refs(Some(join_ref), Some(&r));
        let _ = self.cmd.send(Cmd::Send {
            frame,
            epoch,
            reply: None,
        });
    }

    /// Disconnects for good.
    pub fn close(&self) {
        let _ = self.cmd.send(Cmd::Close);
    }
}

/// The full connect URL: `<base>/websocket?token=…&api_version=1.2&worker_version=…&vsn=2.0.0`.
pub fn connect_url(base: &str, token: &str, worker_version: &str) -> Result<url::Url, String> {
    let base = base.trim().trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/websocket"))
        .map_err(|e| format!("invalid lightning url {base:?}: {e}"))?;
    if url.scheme() != "ws" && url.scheme() != "wss" {
        return Err(format!(
            "invalid lightning url {base:?}: scheme must be ws or wss"
        ));
    }
    url.query_pairs_mut()
        .append_pair("token", token)
        .append_pair("api_version", API_VERSION)
        .append_pair("worker_version", worker_version)
        .append_pair("vsn", "2.0.0");
    Ok(url)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn tls_connector(ca_file: &Option<PathBuf>) -> Result<Connector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let mut reader = std::io::BufReader::new(pem.as_slice());
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls setup failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

/// Resolves the host and tries every address (IPv6 and IPv4) until one connects.
async fn connect(config: &SocketConfig) -> Result<Ws, String> {
    let url = connect_url(&config.base_url, &config.token, &config.worker_version)?;
    let host = url
        .host_str()
        .ok_or("lightning url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or("lightning url has no port")?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolved to no address"));
    }
    let connector = if url.scheme() == "wss" {
        Some(tls_connector(&config.ca_file)?)
    } else {
        None
    };
    let mut last = String::new();
    for addr in addrs {
        let tcp =
            match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    last = format!("connect {addr}: {e}");
                    continue;
                }
                Err(_) => {
                    last = format!("connect {addr}: timed out");
                    continue;
                }
            };
        let _ = tcp.set_nodelay(true);
        let request = url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        match tokio_tungstenite::client_async_tls_with_config(request, tcp, None, connector.clone())
            .await
        {
            Ok((ws, _)) => return Ok(ws),
            Err(e) => last = format!("websocket handshake with {addr}: {e}"),
        }
    }
    Err(last)
}

async fn actor(
    config: SocketConfig,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    state_tx: watch::Sender<ConnState>,
    subs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>>,
    metrics: Arc<Metrics>,
) {
    let mut epoch = 0u64;
    let mut tries = 0u32;
    loop {
        match connect(&config).await {
            Ok(ws) => {
                if epoch > 0 {
                    metrics.inc_reconnects();
                }
                epoch += 1;
                tries = 0;
                tracing::info!(epoch, "connected to lightning");
                state_tx.send_replace(ConnState {
                    epoch,
                    connected: true,
                });
                let closed = connection(&config, ws, epoch, &mut cmd_rx, &subs).await;
                state_tx.send_replace(ConnState {
                    epoch,
                    connected: false,
                });
                if closed {
                    tracing::info!("socket closed");
                    return;
                }
                tracing::warn!(epoch, "disconnected from lightning");
            }
            Err(e) => {
                tries = tries.saturating_add(1);
                tracing::warn!(attempt = tries, "failed to connect to lightning: {e}");
            }
        }
        // Linear backoff with jitter; answer commands meanwhile (pushes fail as disconnected).
        let step = config.reconnect_step.mul_f64(f64::from(tries.clamp(1, 30)));
        let jitter = step.mul_f64(rand::random::<f64>() * 0.2);
        let sleep = tokio::time::sleep(step + jitter);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = cmd_rx.recv() => match cmd {
                    None | Some(Cmd::Close) => return,
                    Some(Cmd::Send { reply, .. }) => {
                        if let Some(tx) = reply {
                            let _ = tx.send(Err(PushError::Disconnected));
                        }
                    }
                    Some(Cmd::Forget(_)) => {}
                },
            }
        }
    }
}

/// Runs one connection; returns true if the socket was closed for good.
async fn connection(
    config: &SocketConfig,
    ws: Ws,
    epoch: u64,
    cmd_rx: &mut mpsc::UnboundedReceiver<Cmd>,
    subs: &Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>,
) -> bool {
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<String, oneshot::Sender<Result<Reply, PushError>>> = HashMap::new();
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + config.heartbeat,
        config.heartbeat,
    );
    let mut hb_ref: Option<String> = None;
    let mut hb_counter = 0u64;
    let mut peer_answers_heartbeats = false;
    let closed = loop {
        tokio::select! {
            cmd = cmd_rx.recv() => match cmd {
                None | Some(Cmd::Close) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break true;
                }
                Some(Cmd::Forget(r)) => { pending.remove(&r); }
                Some(Cmd::Send { frame, epoch: e, reply }) => {
                    if e != epoch {
                        if let Some(tx) = reply { let _ = tx.send(Err(PushError::Disconnected)); }
                        continue;
                    }
                    let text = match frame.encode_text() {
                        Ok(t) => t,
                        Err(err) => {
                            tracing::error!("cannot encode frame: {err}");
                            if let Some(tx) = reply { let _ = tx.send(Err(PushError::Disconnected)); }
                            continue;
                        }
                    };
                    if let (Some(tx), Some(r)) = (reply, frame.r#ref.clone()) {
                        pending.insert(r, tx);
                    }
                    if sink.send(Message::text(text)).await.is_err() {
                        break false;
                    }
                }
            },
            msg = stream.next() => {
                let frame = match msg {
                    None | Some(Err(_)) => break false,
                    Some(Ok(Message::Text(t))) => Frame::decode_text(t.as_str()),
                    Some(Ok(Message::Binary(b))) => Frame::decode_binary(&b),
                    Some(Ok(Message::Close(_))) => break false,
                    Some(Ok(_)) => continue,
                };
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => { tracing::warn!("ignoring undecodable frame: {e}"); continue; }
                };
                if frame.is_reply() {
                    let topic = frame.topic.clone();
                    match frame.into_reply() {
                        Ok(reply) => {
                            if topic == "phoenix" && hb_ref.as_deref() == Some(reply.r#ref.as_str()) {
                                hb_ref = None;
                                peer_answers_heartbeats = true;
                            } else if let Some(tx) = pending.remove(&reply.r#ref) {
                                let _ = tx.send(Ok(reply));
                            }
                        }
                        Err(e) => tracing::warn!("ignoring malformed reply: {e}"),
                    }
                } else {
                    let tx = subs.lock().ok().and_then(|s| s.get(&frame.topic).cloned());
                    if let Some(tx) = tx { let _ = tx.send(frame); }
                }
            },
            _ = heartbeat.tick() => {
                if hb_ref.is_some() && peer_answers_heartbeats {
                    tracing::warn!("heartbeat timeout: reconnecting");
                    break false;
                }
                hb_counter += 1;
                let r = format!("hb{epoch}-{hb_counter}");
                hb_ref = Some(r.clone());
                let Ok(text) = Frame::heartbeat(&r).encode_text() else { continue };
                if sink.send(Message::text(text)).await.is_err() { break false; }
            }
        }
    };
    for (_, tx) in pending.drain() {
        let _ = tx.send(Err(PushError::Disconnected));
    }
    closed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shape() {
        let u = connect_url(" ws://localhost:4000/worker", "a.b.c", "1.0.0").map(|u| u.to_string());
        assert_eq!(
            u.as_deref(),
            Ok(
                "ws://localhost:4000/worker/websocket?token=a.b.c&api_version=1.2&worker_version=1.0.0&vsn=2.0.0"
            )
        );
        assert!(connect_url("http://x/worker", "t", "v").is_err());
        assert!(
            connect_url("wss://x/worker/", "t", "v").is_ok_and(|u| u.path() == "/worker/websocket")
        );
    }
}
