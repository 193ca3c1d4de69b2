//! One connection's life (`run`): commands from the [`Socket`](super::Socket) handles, messages
//! from Lightning, heartbeats and the idle check, each in a handler of its own; replies matched
//! to their requests by ref; the message limit enforced per request, so an oversized message
//! fails only the request it belongs to.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use openfn_lexicon::phoenix::Frame;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::connect::Ws;
use super::{Cmd, PushError, ReplyTx, SocketConfig, Subscribers};

/// How a connection ended.
pub(super) enum End {
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
fn no_run_channels(subs: &Subscribers) -> bool {
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

type Sink = SplitSink<Ws, Message>;

/// The state of one connection between the handlers of [`run`]'s loop.
struct Conn<'a> {
    epoch: u64,
    /// The message limit (`--max-message-mb`) in bytes.
    limit: usize,
    subs: &'a Subscribers,
    pending: Pending,
    /// The ref of the heartbeat waiting for its reply.
    hb_ref: Option<String>,
    hb_counter: u64,
    peer_answers_heartbeats: bool,
    /// Set once a message of [`RECYCLE_AFTER_BYTES`] or more went either way.
    large_message: bool,
}

/// Runs one connection until it ends.
pub(super) async fn run(
    config: &SocketConfig,
    ws: Ws,
    epoch: u64,
    cmd_rx: &mut mpsc::UnboundedReceiver<Cmd>,
    subs: &Subscribers,
) -> End {
    let (mut sink, mut stream) = ws.split();
    let mut conn = Conn {
        epoch,
        limit: config.max_message_bytes,
        subs,
        pending: HashMap::new(),
        hb_ref: None,
        hb_counter: 0,
        peer_answers_heartbeats: false,
        large_message: false,
    };
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + config.heartbeat,
        config.heartbeat,
    );
    let mut idle_check = tokio::time::interval(Duration::from_millis(500));
    let end = loop {
        let step = tokio::select! {
            cmd = cmd_rx.recv() => conn.on_command(cmd, &mut sink).await,
            _ = idle_check.tick(), if conn.large_message => conn.on_idle(&mut sink).await,
            msg = stream.next() => conn.on_message(msg),
            _ = heartbeat.tick() => conn.on_heartbeat(&mut sink).await,
        };
        if let ControlFlow::Break(end) = step {
            break end;
        }
    };
    for (_, w) in conn.pending.drain() {
        let _ = w.tx.send(Err(PushError::Disconnected));
    }
    end
}

impl Conn<'_> {
    /// A command from the [`Socket`](super::Socket) handles: send a frame, forget a request, or
    /// close for good.
    async fn on_command(&mut self, cmd: Option<Cmd>, sink: &mut Sink) -> ControlFlow<End> {
        match cmd {
            None | Some(Cmd::Close) => {
                let _ = sink.send(Message::Close(None)).await;
                ControlFlow::Break(End::Closed)
            }
            Some(Cmd::Forget(r)) => {
                self.pending.remove(&r);
                ControlFlow::Continue(())
            }
            Some(Cmd::Send {
                frame,
                epoch,
                reply,
            }) => self.send(frame, epoch, reply, sink).await,
        }
    }

    /// Sends a frame of this connection's epoch within the message limit, and keeps its reply
    /// channel by ref; a frame that cannot go fails only its own request.
    async fn send(
        &mut self,
        frame: Frame,
        epoch: u64,
        reply: Option<ReplyTx>,
        sink: &mut Sink,
    ) -> ControlFlow<End> {
        let fail = |reply: Option<ReplyTx>, err: PushError| {
            if let Some(tx) = reply {
                let _ = tx.send(Err(err));
            }
        };
        if epoch != self.epoch {
            fail(reply, PushError::Disconnected);
            return ControlFlow::Continue(());
        }
        let text = match frame.encode_text() {
            Ok(t) => t,
            Err(err) => {
                tracing::error!("cannot encode frame: {err}");
                fail(reply, PushError::Disconnected);
                return ControlFlow::Continue(());
            }
        };
        let limit = self.limit;
        if text.len() > limit {
            let why = format!(
                "{} on {} is {} bytes, over the message limit of {limit} bytes (--max-message-mb): not sent",
                frame.event,
                frame.topic,
                text.len()
            );
            tracing::error!("{why}");
            fail(reply, PushError::TooLarge(why));
            return ControlFlow::Continue(());
        }
        if let (Some(tx), Some(r)) = (reply, frame.r#ref.clone()) {
            let waiting = Waiting {
                event: frame.event.clone(),
                size: text.len(),
                tx,
            };
            self.pending.insert(r, waiting);
        }
        self.large_message |= text.len() >= RECYCLE_AFTER_BYTES;
        match sink.send(Message::text(text)).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(End::Lost(format!("send failed: {e}"))),
        }
    }

    /// After a large message: recycles the connection once nothing waits on it.
    async fn on_idle(&self, sink: &mut Sink) -> ControlFlow<End> {
        if self.pending.is_empty() && no_run_channels(self.subs) {
            let _ = sink.send(Message::Close(None)).await;
            return ControlFlow::Break(End::Recycle);
        }
        ControlFlow::Continue(())
    }

    /// A message from Lightning, or the end of the stream: decoded within the message limit
    /// and handed on; a close or a read error ends the connection.
    fn on_message(&mut self, msg: Option<Result<Message, WsError>>) -> ControlFlow<End> {
        let (frame, size) = match msg {
            None => {
                return ControlFlow::Break(End::Lost("the server closed the connection".into()));
            }
            Some(Err(e)) => {
                let (cause, too_large) = read_error(&e, self.limit);
                if too_large {
                    fail_fetches(&mut self.pending, &cause);
                }
                return ControlFlow::Break(End::Lost(cause));
            }
            Some(Ok(Message::Text(t))) => {
                let size = t.len();
                self.large_message |= size >= RECYCLE_AFTER_BYTES;
                if size > self.limit {
                    let header = header_of_text(t.as_str());
                    refuse_oversized(&mut self.pending, header, size, self.limit);
                    return ControlFlow::Continue(());
                }
                (Frame::decode_text(t.as_str()), size)
            }
            Some(Ok(Message::Binary(b))) => (Frame::decode_binary(&b), b.len()),
            Some(Ok(Message::Close(frame))) => return ControlFlow::Break(self.closed(frame)),
            Some(Ok(_)) => return ControlFlow::Continue(()),
        };
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("ignoring undecodable frame: {e}");
                return ControlFlow::Continue(());
            }
        };
        self.large_message |= size >= RECYCLE_AFTER_BYTES;
        if size > self.limit {
            let header = Some((frame.topic.clone(), frame.r#ref.clone()));
            refuse_oversized(&mut self.pending, header, size, self.limit);
            return ControlFlow::Continue(());
        }
        self.dispatch(frame);
        ControlFlow::Continue(())
    }

    /// Lightning closed the connection; a 1009 (message too big) blames the largest request.
    fn closed(&mut self, frame: Option<CloseFrame>) -> End {
        let code = frame.as_ref().map(|f| u16::from(f.code));
        let cause = match frame {
            Some(f) => format!(
                "closed by the server with {} {}",
                u16::from(f.code),
                f.reason
            ),
            None => "closed by the server".into(),
        };
        if code == Some(1009) {
            blame_too_big(&mut self.pending);
        }
        End::Lost(cause)
    }

    /// A decoded frame: a reply goes to its request (or answers the heartbeat), a push to the
    /// subscriber of its topic.
    fn dispatch(&mut self, frame: Frame) {
        if !frame.is_reply() {
            let tx = self
                .subs
                .lock()
                .ok()
                .and_then(|s| s.get(&frame.topic).cloned());
            if let Some(tx) = tx {
                let _ = tx.send(frame);
            }
            return;
        }
        let topic = frame.topic.clone();
        match frame.into_reply() {
            Ok(reply) => {
                if topic == "phoenix" && self.hb_ref.as_deref() == Some(reply.r#ref.as_str()) {
                    self.hb_ref = None;
                    self.peer_answers_heartbeats = true;
                } else if let Some(w) = self.pending.remove(&reply.r#ref) {
                    let _ = w.tx.send(Ok(reply));
                }
            }
            Err(e) => tracing::warn!("ignoring malformed reply: {e}"),
        }
    }

    /// Sends the next heartbeat; ends the connection when the last one went unanswered by a
    /// peer that answers them.
    async fn on_heartbeat(&mut self, sink: &mut Sink) -> ControlFlow<End> {
        if self.hb_ref.is_some() && self.peer_answers_heartbeats {
            return ControlFlow::Break(End::Lost("heartbeat timeout".into()));
        }
        self.hb_counter += 1;
        let r = format!("hb{}-{}", self.epoch, self.hb_counter);
        self.hb_ref = Some(r.clone());
        let Ok(text) = Frame::heartbeat(&r).encode_text() else {
            return ControlFlow::Continue(());
        };
        match sink.send(Message::text(text)).await {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(End::Lost(format!("heartbeat send failed: {e}"))),
        }
    }
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
}
