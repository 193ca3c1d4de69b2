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

use futures_util::{SinkExt, StreamExt};
use openfn_lexicon::phoenix::{Frame, Reply};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

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

/// Start-up check of `--ca-file`: readable, with at least one PEM certificate rustls accepts.
pub fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    connect::check_ca_file(path)
}

use connect::{Ws, connect};

async fn actor(
    config: SocketConfig,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    state_tx: watch::Sender<ConnState>,
    subs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>>,
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
                let end = connection(&config, ws, epoch, &mut cmd_rx, &subs).await;
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

/// How a connection ended.
enum End {
    /// [`Socket::close`]: for good.
    Closed,
    /// Lost, for this reason; the actor reconnects.
    Lost(String),
    /// Closed by us while idle after a large message: the WebSocket's read and write buffers
    /// keep the capacity of the largest message for the connection's life, so a new
    /// connection gives that memory back. The actor reconnects at once.
    Recycle,
}

/// A message at least this large makes the connection recycled once the worker is idle.
const RECYCLE_AFTER_BYTES: usize = 4 * 1024 * 1024;

/// Whether no run channel is subscribed (only `worker:queue`, or nothing).
fn no_run_channels(subs: &Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>) -> bool {
    subs.lock()
        .map(|s| s.keys().all(|t| !t.starts_with("run:")))
        .unwrap_or(false)
}

/// A request waiting for its reply: the event it sent and that message's size.
struct Waiting {
    event: String,
    size: usize,
    tx: ReplyTx,
}

/// Requests waiting for their reply, by ref.
type Pending = HashMap<String, Waiting>;

/// Below this size a message is never blamed for a `1009 message too big` close.
const BLAME_MIN_BYTES: usize = 64 * 1024;

/// Runs one connection until it ends.
async fn connection(
    config: &SocketConfig,
    ws: Ws,
    epoch: u64,
    cmd_rx: &mut mpsc::UnboundedReceiver<Cmd>,
    subs: &Mutex<HashMap<String, mpsc::UnboundedSender<Frame>>>,
) -> End {
    let (mut sink, mut stream) = ws.split();
    let mut pending: Pending = HashMap::new();
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + config.heartbeat,
        config.heartbeat,
    );
    let mut hb_ref: Option<String> = None;
    let mut hb_counter = 0u64;
    let mut peer_answers_heartbeats = false;
    let limit = config.max_message_bytes;
    // Set once a message of RECYCLE_AFTER_BYTES or more went either way.
    let mut large_message = false;
    let mut idle_check = tokio::time::interval(Duration::from_millis(500));
    let end = loop {
        tokio::select! {
            cmd = cmd_rx.recv() => match cmd {
                None | Some(Cmd::Close) => {
                    let _ = sink.send(Message::Close(None)).await;
                    break End::Closed;
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
                    if text.len() > limit {
                        let why = format!(
                            "{} on {} is {} bytes, over the message limit of {limit} bytes (--max-message-mb): not sent",
                            frame.event, frame.topic, text.len()
                        );
                        tracing::error!("{why}");
                        if let Some(tx) = reply { let _ = tx.send(Err(PushError::TooLarge(why))); }
                        continue;
                    }
                    if let (Some(tx), Some(r)) = (reply, frame.r#ref.clone()) {
                        pending.insert(r, Waiting { event: frame.event.clone(), size: text.len(), tx });
                    }
                    large_message |= text.len() >= RECYCLE_AFTER_BYTES;
                    if let Err(e) = sink.send(Message::text(text)).await {
                        break End::Lost(format!("send failed: {e}"));
                    }
                }
            },
            _ = idle_check.tick(), if large_message => {
                if pending.is_empty() && no_run_channels(subs) {
                    let _ = sink.send(Message::Close(None)).await;
                    break End::Recycle;
                }
            },
            msg = stream.next() => {
                let (frame, size) = match msg {
                    None => break End::Lost("the server closed the connection".into()),
                    Some(Err(e)) => {
                        let cause = read_error(&e, limit);
                        if cause.1 {
                            fail_fetches(&mut pending, &cause.0);
                        }
                        break End::Lost(cause.0);
                    }
                    Some(Ok(Message::Text(t))) => {
                        let size = t.len();
                        large_message |= size >= RECYCLE_AFTER_BYTES;
                        if size > limit {
                            refuse_oversized(&mut pending, header_of_text(t.as_str()), size, limit);
                            continue;
                        }
                        (Frame::decode_text(t.as_str()), size)
                    }
                    Some(Ok(Message::Binary(b))) => (Frame::decode_binary(&b), b.len()),
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code));
                        let cause = match frame {
                            Some(f) => format!("closed by the server with {} {}", u16::from(f.code), f.reason),
                            None => "closed by the server".into(),
                        };
                        if code == Some(1009) {
                            blame_too_big(&mut pending);
                        }
                        break End::Lost(cause);
                    }
                    Some(Ok(_)) => continue,
                };
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => { tracing::warn!("ignoring undecodable frame: {e}"); continue; }
                };
                large_message |= size >= RECYCLE_AFTER_BYTES;
                if size > limit {
                    refuse_oversized(&mut pending, Some((frame.topic.clone(), frame.r#ref.clone())), size, limit);
                    continue;
                }
                if frame.is_reply() {
                    let topic = frame.topic.clone();
                    match frame.into_reply() {
                        Ok(reply) => {
                            if topic == "phoenix" && hb_ref.as_deref() == Some(reply.r#ref.as_str()) {
                                hb_ref = None;
                                peer_answers_heartbeats = true;
                            } else if let Some(w) = pending.remove(&reply.r#ref) {
                                let _ = w.tx.send(Ok(reply));
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
                    break End::Lost("heartbeat timeout".into());
                }
                hb_counter += 1;
                let r = format!("hb{epoch}-{hb_counter}");
                hb_ref = Some(r.clone());
                let Ok(text) = Frame::heartbeat(&r).encode_text() else { continue };
                if let Err(e) = sink.send(Message::text(text)).await {
                    break End::Lost(format!("heartbeat send failed: {e}"));
                }
            }
        }
    };
    for (_, w) in pending.drain() {
        let _ = w.tx.send(Err(PushError::Disconnected));
    }
    end
}

/// Describes a read error; true when it was a message over the transport limit.
fn read_error(e: &tokio_tungstenite::tungstenite::Error, limit: usize) -> (String, bool) {
    use tokio_tungstenite::tungstenite::Error as E;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    match e {
        E::Capacity(CapacityError::MessageTooLong { size, max_size }) => (
            format!(
                "lightning sent a message of {size} bytes, over the transport limit of {max_size} bytes (twice the message limit of {limit} bytes, --max-message-mb)"
            ),
            true,
        ),
        E::Capacity(c) => (
            format!("lightning sent a message over the limits: {c}"),
            true,
        ),
        other => (format!("read failed: {other}"), false),
    }
}

/// After the connection broke on a message too large to read, fails the requests that may
/// have asked for it (the `fetch:*` requests; only they have large replies) so that their runs
/// fail instead of asking again after the reconnect, forever.
fn fail_fetches(pending: &mut Pending, why: &str) {
    let refs: Vec<String> = pending
        .iter()
        .filter(|(_, w)| w.event.starts_with("fetch:"))
        .map(|(r, _)| r.clone())
        .collect();
    for r in refs {
        if let Some(w) = pending.remove(&r) {
            tracing::error!(
                "{} failed: its reply may be the message that broke the connection",
                w.event
            );
            let _ = w.tx.send(Err(PushError::TooLarge(why.to_string())));
        }
    }
}

/// Lightning closed the connection with `1009 message too big`: it refuses a message of ours
/// (its frame limit is 11 MB). The largest unanswered message (at least [`BLAME_MIN_BYTES`]) is
/// the one: it fails with [`PushError::TooLarge`] instead of being sent again after the
/// reconnect, to be refused again, forever; the others are re-sent as after any drop.
fn blame_too_big(pending: &mut Pending) {
    let culprit = pending
        .iter()
        .filter(|(_, w)| w.size >= BLAME_MIN_BYTES)
        .max_by_key(|(_, w)| w.size)
        .map(|(r, _)| r.clone());
    let Some(w) = culprit.and_then(|r| pending.remove(&r)) else {
        return;
    };
    let why = format!(
        "lightning closed the connection with 1009 (message too big) after {} of {} bytes",
        w.event, w.size
    );
    tracing::error!("{why}: not sent again");
    let _ = w.tx.send(Err(PushError::TooLarge(why)));
}

/// A reply over the message limit: fails the request it answers (found by its ref) with
/// [`PushError::TooLarge`]; the connection carries on.
fn refuse_oversized(
    pending: &mut Pending,
    header: Option<(String, Option<String>)>,
    size: usize,
    limit: usize,
) {
    let (topic, r) = header.unwrap_or_default();
    let request = r.and_then(|r| pending.remove(&r));
    let what = request
        .as_ref()
        .map(|w| format!("the reply to {}", w.event))
        .unwrap_or_else(|| "a message".into());
    let why = format!(
        "{what} on {topic} is {size} bytes, over the worker's message limit of {limit} bytes (--max-message-mb)"
    );
    tracing::error!("{why}: refused; the connection stays up");
    if let Some(w) = request {
        let _ = w.tx.send(Err(PushError::TooLarge(why)));
    }
}

/// The topic and ref of a text frame, read without decoding its payload.
fn header_of_text(text: &str) -> Option<(String, Option<String>)> {
    use serde::de::{Deserializer as _, IgnoredAny, SeqAccess, Visitor};
    struct Header;
    impl<'de> Visitor<'de> for Header {
        type Value = (String, Option<String>);
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a phoenix frame")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let _join_ref: Option<String> = seq.next_element()?.flatten();
            let r: Option<String> = seq.next_element()?.flatten();
            let topic: String = seq.next_element()?.unwrap_or_default();
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok((topic, r))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_seq(Header).ok()
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

    #[test]
    fn header_of_a_text_frame() {
        assert_eq!(
            header_of_text(r#"["1","7","run:a","phx_reply",{"status":"ok","response":[1,2,3]}]"#),
            Some(("run:a".to_string(), Some("7".to_string())))
        );
        assert_eq!(
            header_of_text(r#"[null,null,"worker:queue","work-available",{}]"#),
            Some(("worker:queue".to_string(), None))
        );
        assert_eq!(header_of_text("not json"), None);
    }

    #[test]
    fn the_transport_limit_is_above_the_message_limit() {
        assert_eq!(transport_limit(100 << 20), 200 << 20);
        assert_eq!(transport_limit(10), 10 + (1 << 20));
        assert_eq!(transport_limit(usize::MAX), usize::MAX);
    }
}
