//! The Phoenix Channels socket client over tokio-tungstenite (§1).
//!
//! One actor task owns the WebSocket. It reconnects forever with linear backoff and jitter,
//! sends heartbeats every 30 s (only enforcing their replies once the peer has shown it answers
//! them, so the mock's silence is harmless), and correlates replies by `ref` whether they come
//! as `phx_reply` or `chan_reply_<ref>`. Every connection gets a new *epoch*; channels belong
//! to an epoch, and callers rejoin after a reconnect (see `channel.rs`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openfn_lexicon::phoenix::{Frame, Reply};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

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
    /// The message (the request, or its reply) is over the worker's message limit; the text
    /// says which and by how much. Final: sending it again would fail the same way.
    #[error("{0}")]
    TooLarge(String),
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
    /// HTTP CONNECT proxy URL (`http://[user:pass@]host:port`) to tunnel through.
    pub proxy: Option<String>,
    /// Heartbeat period (30 s).
    pub heartbeat: Duration,
    /// Reconnect backoff step: attempt n waits n × step (plus jitter), capped at 30 steps.
    pub reconnect_step: Duration,
    /// The largest message accepted in either direction (`--max-message-mb`). A bigger reply
    /// fails only the request it answers; the WebSocket itself accepts up to
    /// [`transport_limit`] of it so that the connection survives.
    pub max_message_bytes: usize,
}

/// The WebSocket's own frame and message limit for a message limit of `max_message_bytes`:
/// twice that (at least 1 MiB more), so a message somewhat over the limit is read whole and
/// refused on its own, while the connection stays up. Only a message past this breaks the
/// connection (tungstenite cannot skip a frame it refused).
pub fn transport_limit(max_message_bytes: usize) -> usize {
    max_message_bytes
        .saturating_mul(2)
        .max(max_message_bytes.saturating_add(1 << 20))
}

/// Connection state published by the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnState {
    /// Connection counter: 0 before the first connect, +1 per connection.
    pub epoch: u64,
    /// Whether that connection is up.
    pub connected: bool,
}

type ReplyTx = oneshot::Sender<Result<Reply, PushError>>;

/// The run channels' (and `worker:queue`'s) receivers of pushes, by topic.
type Subscribers = Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>;

enum Cmd {
    Send {
        frame: Frame,
        epoch: u64,
        reply: Option<ReplyTx>,
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
    subs: Arc<Subscribers>,
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
        let subs: Arc<Subscribers> = Arc::default();
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
        frame: Frame,
        epoch: u64,
        timeout: Duration,
    ) -> Result<Reply, PushError> {
        self.send(frame, epoch)?.wait(timeout).await
    }

    /// Sends `frame` (its `ref` is set here) on connection `epoch`; the reply is awaited with
    /// [`PendingReply::wait`], as often as needed: a reply that comes after one wait timed
    /// out is still delivered to the next.
    pub fn send(&self, mut frame: Frame, epoch: u64) -> Result<PendingReply, PushError> {
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
        Ok(PendingReply {
            rx,
            r#ref: r,
            cmd: self.cmd.clone(),
            settled: false,
        })
    }

    /// Sends the join of `topic` on connection `epoch`; returns the join ref and the pending
    /// reply.
    pub fn send_join(
        &self,
        topic: &str,
        params: Value,
        epoch: u64,
    ) -> Result<(String, PendingReply), PushError> {
        let r = self.make_ref();
        let frame = Frame::join(&r, topic, params);
        Ok((r, self.send(frame, epoch)?))
    }

    /// Sends `event` to a joined channel; the reply is awaited on the returned handle.
    pub fn send_push(
        &self,
        topic: &str,
        join_ref: &str,
        event: &str,
        payload: Value,
        epoch: u64,
    ) -> Result<PendingReply, PushError> {
        let r = self.make_ref();
        let frame = Frame::new(topic, event, payload).with_refs(Some(join_ref), Some(&r));
        self.send(frame, epoch)
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
        self.send_push(topic, join_ref, event, payload, epoch)?
            .wait(timeout)
            .await
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

/// A request on the wire whose reply has not been taken yet. Dropping it forgets the request
/// (a reply that comes later is ignored).
#[derive(Debug)]
pub struct PendingReply {
    rx: oneshot::Receiver<Result<Reply, PushError>>,
    r#ref: String,
    cmd: mpsc::UnboundedSender<Cmd>,
    settled: bool,
}

impl PendingReply {
    /// Waits up to `timeout` for the reply. `Err(Timeout)` leaves the request pending: the
    /// next call keeps waiting for the same reply (nothing is sent again).
    pub async fn wait(&mut self, timeout: Duration) -> Result<Reply, PushError> {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(result)) => {
                self.settled = true;
                result
            }
            Ok(Err(_)) => {
                self.settled = true;
                Err(PushError::Closed)
            }
            Err(_) => Err(PushError::Timeout),
        }
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if !self.settled {
            let _ = self.cmd.send(Cmd::Forget(std::mem::take(&mut self.r#ref)));
        }
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

mod connect;
mod connection;

/// Start-up check of `--ca-file`: readable, with at least one PEM certificate rustls accepts.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    connect::check_ca_file(path)
}

use connect::connect;
use connection::End;

async fn actor(
    config: SocketConfig,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    state_tx: watch::Sender<ConnState>,
    subs: Arc<Subscribers>,
    metrics: Arc<Metrics>,
) {
    let mut epoch = 0u64;
    let mut tries = 0u32;
    let mut refused = 0u32;
    let mut recycled = false;
    loop {
        match connect(&config).await {
            Ok(ws) => {
                if recycled {
                    metrics.inc_recycles();
                } else if epoch > 0 {
                    metrics.inc_reconnects();
                }
                recycled = false;
                epoch += 1;
                tries = 0;
                refused = 0;
                tracing::info!(epoch, "connected to lightning");
                state_tx.send_replace(ConnState {
                    epoch,
                    connected: true,
                });
                let end = connection::run(&config, ws, epoch, &mut cmd_rx, &subs).await;
                state_tx.send_replace(ConnState {
                    epoch,
                    connected: false,
                });
                match end {
                    End::Closed => {
                        tracing::info!("socket closed");
                        return;
                    }
                    End::Recycle => {
                        tracing::info!(
                            epoch,
                            "reconnecting while idle to free the buffers of a large message"
                        );
                        recycled = true;
                        // the old connection's buffers are freed now: give them back
                        crate::memory::release();
                        continue;
                    }
                    End::Lost(cause) => {
                        tracing::warn!(epoch, "disconnected from lightning: {cause}");
                    }
                }
            }
            Err(e) => {
                tries = tries.saturating_add(1);
                refused = if e.unauthorized {
                    refused.saturating_add(1)
                } else {
                    0
                };
                log_connect_failure(tries, refused, &e.message);
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

/// Logs a failed connection attempt. Lightning refusing the worker token (401) is said once
/// clearly, with the fix; later refusals only every [`REFUSED_REMINDER`]th time (Lightning may
/// be redeployed with the right secret, so the worker keeps trying).
fn log_connect_failure(attempt: u32, refused: u32, message: &str) {
    if refused == 0 {
        tracing::warn!(attempt, "failed to connect to lightning: {message}");
    } else if refused == 1 {
        tracing::error!(
            attempt,
            "lightning refused the worker token (401 Unauthorized): check that WORKER_SECRET matches Lightning's; retrying"
        );
    } else if refused.is_multiple_of(REFUSED_REMINDER) {
        tracing::warn!(
            attempt,
            "lightning still refuses the worker token (401 Unauthorized, {refused} times): check that WORKER_SECRET matches Lightning's"
        );
    } else {
        tracing::debug!(attempt, "failed to connect to lightning: {message}");
    }
}

/// Every how many refused connections (401) the worker repeats its hint.
const REFUSED_REMINDER: u32 = 10;

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

    #[test]
    fn the_transport_limit_is_above_the_message_limit() {
        assert_eq!(transport_limit(100 << 20), 200 << 20);
        assert_eq!(transport_limit(10), 10 + (1 << 20));
        assert_eq!(transport_limit(usize::MAX), usize::MAX);
    }
}
