//! A Phoenix channel on top of [`Socket`]: joins lazily, rejoins with the original join payload
//! after a reconnect or a `phx_error`/`phx_close`, and (for [`Channel::request`]) re-sends a push
//! whose connection dropped before it was acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use openfn_lexicon::phoenix::{Frame, Reply};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::socket::{PushError, Socket};

/// Why a channel push failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChannelError {
    /// No reply within the timeout.
    #[error("timeout")]
    Timeout,
    /// The server refused the join; the text is its response.
    #[error("join refused: {0}")]
    JoinRefused(String),
    /// The socket was shut down.
    #[error("socket closed")]
    Closed,
    /// The connection dropped (from [`Channel::request_once`], or when a request's budget of
    /// re-sends is spent).
    #[error("disconnected")]
    Disconnected,
    /// The request or its reply is over the message limit (final).
    #[error("{0}")]
    TooLarge(String),
}

impl From<PushError> for ChannelError {
    fn from(e: PushError) -> ChannelError {
        match e {
            PushError::Timeout => ChannelError::Timeout,
            PushError::Disconnected => ChannelError::Disconnected,
            PushError::Closed => ChannelError::Closed,
            PushError::TooLarge(m) => ChannelError::TooLarge(m),
        }
    }
}

/// How hard a request tries before it gives up. Only transient failures are retried: a reply
/// that does not come within the timeout (the worker keeps waiting for the same reply; the
/// push is not sent again on the same connection, where it could only be late, and a second
/// copy would duplicate the event in Lightning) and a connection that dropped before the reply
/// (the push is sent again after the rejoin). An `error` reply is an answer, never retried here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// Transient failures tolerated: each timed-out wait and (with `count_drops`) each re-send
    /// after a dropped connection spends one.
    pub retries: u32,
    /// Whether re-sends after a dropped connection count against `retries` (and wait a
    /// backoff first); when false they are unlimited, as while Lightning is away.
    pub count_drops: bool,
    /// Cap of the backoff before a re-send: 100 ms, doubling per re-send.
    pub max_delay: Duration,
}

impl Patience {
    /// One timeout, final; re-sent after every drop.
    pub const STRICT: Patience = Patience {
        retries: 0,
        count_drops: false,
        max_delay: Duration::ZERO,
    };

    /// The backoff before re-send number `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let base =
            Duration::from_millis(100).saturating_mul(2u32.saturating_pow(n.saturating_sub(1)));
        base.min(self.max_delay)
    }
}

/// One channel topic and its join state.
#[derive(Debug)]
pub struct Channel {
    socket: Socket,
    topic: String,
    params: Value,
    join_timeout: Duration,
    joined: Mutex<Option<(String, u64)>>,
    /// Until when a join keeps waiting for its reply (a claimed run's lifetime); without it a
    /// join gives up after one timeout.
    join_deadline: Option<Instant>,
    /// Retries spent by [`Channel::request_with`] so far.
    retries: AtomicU64,
    /// Where retries are counted as they happen.
    metrics: Option<Arc<Metrics>>,
    pushes: tokio::sync::Mutex<mpsc::UnboundedReceiver<Frame>>,
    buffered: Mutex<Vec<Frame>>,
    /// Whether the first join succeeded (later joins are rejoins).
    pub(crate) ever_joined: Mutex<bool>,
}

impl Channel {
    /// A channel for `topic`, joined with `params`; nothing is sent until the first push.
    pub fn new(
        socket: Socket,
        topic: impl Into<String>,
        params: Value,
        join_timeout: Duration,
    ) -> Channel {
        let topic = topic.into();
        let pushes = socket.subscribe(&topic);
        Channel {
            socket,
            topic,
            params,
            join_timeout,
            joined: Mutex::new(None),
            join_deadline: None,
            retries: AtomicU64::new(0),
            metrics: None,
            pushes: tokio::sync::Mutex::new(pushes),
            buffered: Mutex::new(Vec::new()),
            ever_joined: Mutex::new(false),
        }
    }

    /// Joins keep waiting for their reply, and rejoin after drops, until `deadline`.
    pub fn with_join_deadline(mut self, deadline: Instant) -> Channel {
        self.join_deadline = Some(deadline);
        self
    }

    /// Counts retries in `metrics` (`openfn_worker_event_retries_total`) as they happen.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Channel {
        self.metrics = Some(metrics);
        self
    }

    fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.inc_event_retries();
        }
    }

    /// Retries spent by [`Channel::request_with`] so far (timed-out waits and re-sends).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The socket.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Takes the server pushes received so far (other than lifecycle events, which are
    /// handled here); a `phx_error`/`phx_close` marks the channel for a rejoin.
    pub fn drain_pushes(&self) -> Vec<Frame> {
        let mut frames: Vec<Frame> = self
            .buffered
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default();
        if let Ok(mut rx) = self.pushes.try_lock() {
            while let Ok(f) = rx.try_recv() {
                frames.push(f);
            }
        }
        let mut out = Vec::new();
        for f in frames {
            if f.event == "phx_error" || f.event == "phx_close" {
                tracing::warn!(topic = %self.topic, event = %f.event, "channel closed by the server");
                self.mark_unjoined();
            } else {
                out.push(f);
            }
        }
        out
    }

    /// Resolves when a server push arrives (it is kept for [`Channel::drain_pushes`]).
    /// Cancel-safe.
    pub async fn push_arrived(&self) {
        let mut rx = self.pushes.lock().await;
        match rx.recv().await {
            Some(f) => {
                if let Ok(mut b) = self.buffered.lock() {
                    b.push(f);
                }
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// Forgets the current join (the next push rejoins).
    pub fn mark_unjoined(&self) {
        if let Ok(mut j) = self.joined.lock() {
            *j = None;
        }
    }

    /// The join ref and epoch if joined on the live connection.
    pub fn joined(&self) -> Option<(String, u64)> {
        let current = self.socket.state();
        let j = self.joined.lock().ok()?.clone()?;
        (current.connected && current.epoch == j.1).then_some(j)
    }

    /// Joins on the current connection if not joined yet, waiting for a connection first.
    /// With a join deadline, a join whose reply is late is waited for (and logged each
    /// timeout) until the deadline, and a join cut by a dropped connection is sent again after
    /// the reconnect; a join refused with an `error` reply is final.
    pub async fn ensure_joined(&self) -> Result<(String, u64), ChannelError> {
        self.drain_pushes();
        let mut attempt = 0u32;
        loop {
            if let Some(j) = self.joined() {
                return Ok(j);
            }
            let epoch = self.wait_connected().await?;
            attempt += 1;
            let (join_ref, mut pending) =
                match self
                    .socket
                    .send_join(&self.topic, self.params.clone(), epoch)
                {
                    Ok(x) => x,
                    Err(PushError::Disconnected) => continue,
                    Err(e) => return Err(e.into()),
                };
            let mut waits = 0u32;
            let result = loop {
                match pending.wait(self.join_timeout).await {
                    Err(PushError::Timeout) => {
                        waits += 1;
                        let Some(left) = self.time_left() else {
                            break Err(PushError::Timeout);
                        };
                        tracing::warn!(
                            topic = %self.topic,
                            "no reply to join {} within {:?} (attempt {attempt}, wait {waits}); still waiting for it, for at most {}s more",
                            self.topic, self.join_timeout, left.as_secs()
                        );
                    }
                    other => break other,
                }
            };
            match result {
                Ok(reply) => {
                    if reply.is_ok() {
                        if let Ok(mut j) = self.joined.lock() {
                            *j = Some((join_ref.clone(), epoch));
                        }
                        if let Ok(mut e) = self.ever_joined.lock() {
                            *e = true;
                        }
                        if attempt > 1 || waits > 0 {
                            tracing::info!(topic = %self.topic, attempt, "joined {} after waiting", self.topic);
                        }
                        return Ok((join_ref, epoch));
                    }
                    return Err(ChannelError::JoinRefused(reply.response_text()));
                }
                Err(PushError::Disconnected) => {
                    if self.join_deadline.is_some() {
                        tracing::warn!(topic = %self.topic, attempt, "the connection dropped while joining {}; joining again after the reconnect", self.topic);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Time left before the join deadline; `None` without a deadline or once it passed.
    fn time_left(&self) -> Option<Duration> {
        let deadline = self.join_deadline?;
        let left = deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The epoch of the live connection, waiting for one (until the join deadline, if any).
    async fn wait_connected(&self) -> Result<u64, ChannelError> {
        let state = self.socket.state();
        if state.connected {
            return Ok(state.epoch);
        }
        let wait = self.socket.connected_after(state.epoch);
        match self.join_deadline {
            None => wait.await.map_err(|_| ChannelError::Closed),
            Some(deadline) => match tokio::time::timeout_at(deadline, wait).await {
                Ok(r) => r.map_err(|_| ChannelError::Closed),
                Err(_) => Err(ChannelError::Timeout),
            },
        }
    }

    /// Pushes an event and waits for its reply. If the connection drops first, waits for the
    /// reconnect, rejoins, and sends it again: the push is delivered at least once. One
    /// timeout is final.
    pub async fn request(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Reply, ChannelError> {
        self.request_with(event, payload, timeout, Patience::STRICT)
            .await
    }

    /// As [`Channel::request`], retrying transient failures within `patience`.
    pub async fn request_with(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
        patience: Patience,
    ) -> Result<Reply, ChannelError> {
        let mut unmatched = 0;
        let mut spent = 0u32;
        loop {
            let (join_ref, epoch) = self.ensure_joined().await?;
            let mut pending =
                match self
                    .socket
                    .send_push(&self.topic, &join_ref, event, payload.clone(), epoch)
                {
                    Ok(p) => p,
                    Err(PushError::Disconnected) => {
                        self.mark_unjoined();
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
            let result = loop {
                match pending.wait(timeout).await {
                    Err(PushError::Timeout) if spent < patience.retries => {
                        spent += 1;
                        self.count_retry();
                        tracing::warn!(
                            topic = %self.topic,
                            "no reply to {event} within {timeout:?} (retry {spent} of {}); still waiting for it",
                            patience.retries
                        );
                    }
                    other => break other,
                }
            };
            match result {
                Ok(reply) => {
                    if !reply.is_ok()
                        && reply.response_text().contains("unmatched topic")
                        && unmatched < 3
                    {
                        // The server lost our channel: rejoin and resend (a few times).
                        unmatched += 1;
                        self.mark_unjoined();
                        continue;
                    }
                    return Ok(reply);
                }
                Err(PushError::Disconnected) => {
                    self.mark_unjoined();
                    if patience.count_drops {
                        if spent >= patience.retries {
                            return Err(ChannelError::Disconnected);
                        }
                        spent += 1;
                        self.count_retry();
                        let delay = patience.delay(spent);
                        tracing::warn!(
                            topic = %self.topic,
                            "the connection dropped before {event} was answered (retry {spent} of {}); sending it again after the rejoin, in {delay:?}",
                            patience.retries
                        );
                        tokio::time::sleep(delay).await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Pushes once on the current join; a dropped connection is an error, not a resend.
    pub async fn request_once(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Reply, ChannelError> {
        let Some((join_ref, epoch)) = self.joined() else {
            return Err(ChannelError::Disconnected);
        };
        match self
            .socket
            .push(&self.topic, &join_ref, event, payload, epoch, timeout)
            .await
        {
            Ok(reply) => Ok(reply),
            Err(PushError::Disconnected) => {
                self.mark_unjoined();
                Err(ChannelError::Disconnected)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Leaves (errors ignored) and stops listening for the topic's pushes.
    pub fn leave(&self) {
        if let Some((join_ref, epoch)) = self.joined() {
            self.socket.leave(&self.topic, &join_ref, epoch);
        }
        self.mark_unjoined();
        self.socket.unsubscribe(&self.topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resend_backoff_doubles_up_to_the_cap() {
        let p = Patience {
            retries: 10,
            count_drops: true,
            max_delay: Duration::from_millis(1000),
        };
        let delays: Vec<u128> = (1..=6).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(1000));
        assert_eq!(Patience::STRICT.delay(1), Duration::ZERO);
    }
}
