//! A Phoenix channel on top of [`Socket`]: joins lazily, rejoins with the original join payload
//! after a reconnect or a `phx_error`/`phx_close`, and (for [`Channel::request`]) re-sends a push
//! whose connection dropped before it was acknowledged.

use std::sync::Mutex;
use std::time::Duration;

use openfn_lexicon::phoenix::{Frame, Reply};
use serde_json::Value;
use tokio::sync::mpsc;

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
    /// The connection dropped (only from [`Channel::request_once`]).
    #[error("disconnected")]
    Disconnected,
}

/// One channel topic and its join state.
#[derive(Debug)]
pub struct Channel {
    socket: Socket,
    topic: String,
    params: Value,
    join_timeout: Duration,
    joined: Mutex<Option<(String, u64)>>,
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
            pushes: tokio::sync::Mutex::new(pushes),
            buffered: Mutex::new(Vec::new()),
            ever_joined: Mutex::new(false),
        }
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
    pub async fn ensure_joined(&self) -> Result<(String, u64), ChannelError> {
        self.drain_pushes();
        loop {
            if let Some(j) = self.joined() {
                return Ok(j);
            }
            let state = self.socket.state();
            let epoch = if state.connected {
                state.epoch
            } else {
                self.socket
                    .connected_after(state.epoch)
                    .await
                    .map_err(|_| ChannelError::Closed)?
            };
            match self
                .socket
                .join(&self.topic, self.params.clone(), epoch, self.join_timeout)
                .await
            {
                Ok((join_ref, reply)) => {
                    if reply.is_ok() {
                        if let Ok(mut j) = self.joined.lock() {
                            *j = Some((join_ref.clone(), epoch));
                        }
                        if let Ok(mut e) = self.ever_joined.lock() {
                            *e = true;
                        }
                        return Ok((join_ref, epoch));
                    }
                    return Err(ChannelError::JoinRefused(reply.response_text()));
                }
                Err(PushError::Disconnected) => continue,
                Err(PushError::Timeout) => return Err(ChannelError::Timeout),
                Err(PushError::Closed) => return Err(ChannelError::Closed),
            }
        }
    }

    /// Pushes an event and waits for its reply. If the connection drops first, waits for the
    /// reconnect, rejoins, and sends it again: the push is delivered at least once.
    pub async fn request(
        &self,
        event: &str,
        payload: Value,
        timeout: Duration,
    ) -> Result<Reply, ChannelError> {
        loop {
            let (join_ref, epoch) = self.ensure_joined().await?;
            match self
                .socket
                .push(
                    &self.topic,
                    &join_ref,
                    event,
                    payload.clone(),
                    epoch,
                    timeout,
                )
                .await
            {
                Ok(reply) => {
                    if !reply.is_ok() && reply.response_text().contains("unmatched topic") {
                        // The server lost our channel: rejoin and resend.
                        self.mark_unjoined();
                        continue;
                    }
                    return Ok(reply);
                }
                Err(PushError::Disconnected) => {
                    self.mark_unjoined();
                    continue;
                }
                Err(PushError::Timeout) => return Err(ChannelError::Timeout),
                Err(PushError::Closed) => return Err(ChannelError::Closed),
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
            Err(PushError::Timeout) => Err(ChannelError::Timeout),
            Err(PushError::Closed) => Err(ChannelError::Closed),
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
