//! The worker socket at `/worker/websocket`: Phoenix Channels v2 over WebSocket, the way real
//! Lightning speaks it (`phx_reply` replies, answered heartbeats, object payloads on pushes,
//! a binary reply frame for `fetch:dataclip`), with worker-token auth on the upgrade, the
//! `worker:queue` channel (claims, debounced `work-available`) and `run:<id>` channels.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use openfn_lexicon::phoenix::{BinaryKind, Frame, Payload, byte_array, names};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, watch};

use crate::channel::{self, Outcome, RUN_EVENTS};
use crate::faults;
use crate::keys::verify_worker_token;
use crate::state::{App, WorkerConn, unix_ms};

/// Close code for a message over the size limit.
const CLOSE_TOO_BIG: u16 = 1009;
/// Close code for a frame that isn't a Phoenix frame.
const CLOSE_INVALID: u16 = 1007;
/// Close code for a broken WebSocket.
const CLOSE_PROTOCOL: u16 = 1002;
/// Close code for an idle socket.
const CLOSE_NORMAL: u16 = 1000;
/// Close code on server shutdown.
const CLOSE_GOING_AWAY: u16 = 1001;
/// Most runs one claim may ask for.
const MAX_DEMAND: u64 = 1000;

/// What the writer task sends.
enum Outgoing {
    Msg(Message),
    /// Stop writing and drop the connection without a close frame.
    Drop,
}

/// What every HTTP and socket handler gets: the state and the shutdown signal.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub app: Arc<App>,
    pub shutdown: watch::Receiver<bool>,
}

/// `GET /worker/websocket`: checks faults and the worker token, then upgrades.
pub(crate) async fn upgrade(
    State(ctx): State<Ctx>,
    Query(params): Query<HashMap<String, String>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    ws: WebSocketUpgrade,
) -> Response {
    let app = ctx.app.clone();
    if app.faults().refusing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "refusing connections (fault)",
        )
            .into_response();
    }
    let mut worker_id = None;
    if app.config.verify_worker_tokens {
        let secret = app.config.worker_secret.as_deref().unwrap_or_default();
        let Some(token) = params.get("token").map(|t| t.trim()) else {
            tracing::info!(%remote, "worker connect without token: 401");
            return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
        };
        match verify_worker_token(secret, token) {
            Ok(claims) => worker_id = Some(claims.worker_id),
            Err(e) => {
                tracing::info!(%remote, "worker token rejected: {e}");
                return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
            }
        }
    } else if let Some(token) = params.get("token") {
        worker_id = crate::keys::unverified_worker_id(token.trim());
    }
    let max = app.config.max_frame_size;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(ctx, socket, remote, worker_id))
}

struct Conn {
    app: Arc<App>,
    id: u64,
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Joined topics → their join_ref.
    joined: HashMap<String, Option<String>>,
    /// Replies are dropped (a `silence` fault) while set.
    muted: bool,
}

async fn serve(ctx: Ctx, socket: WebSocket, remote: SocketAddr, worker_id: Option<String>) {
    let app = ctx.app;
    let mut shutdown = ctx.shutdown;
    let id = app.next_conn_id();
    let wake = Arc::new(Notify::new());
    register(&app, id, remote, worker_id, wake.clone());

    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::unbounded_channel::<Outgoing>();
    let writer = tokio::spawn(write_loop(sink, rx));

    let mut conn = Conn {
        app: app.clone(),
        id,
        tx,
        joined: HashMap::new(),
        muted: false,
    };
    let mut pushes = WorkAvailable::new(app.config.work_available_debounce);
    let idle_timeout = app.config.idle_timeout;
    let mut last_heard = Instant::now();
    loop {
        let idle_at = last_heard + idle_timeout.unwrap_or(Duration::from_secs(3600));
        let queue_joined = conn.joined.contains_key("worker:queue");
        let pending_at = pushes
            .pending_push
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = stream.next() => {
                last_heard = Instant::now();
                if !conn.on_message(msg) {
                    break;
                }
            }
            () = wake.notified(), if queue_joined => pushes.on_wake(&conn),
            () = tokio::time::sleep_until(pending_at.into()), if pushes.pending_push.is_some() => {
                pushes.on_deadline(&conn);
            }
            () = tokio::time::sleep_until(idle_at.into()), if idle_timeout.is_some() => {
                tracing::info!(conn = id, "closing idle socket (no message, not even a heartbeat)");
                conn.close(CLOSE_NORMAL, "idle timeout: no heartbeat");
                break;
            }
            _ = shutdown.changed() => {
                conn.close(CLOSE_GOING_AWAY, "server shutting down");
                break;
            }
        }
    }
    drop(conn);
    // Let the writer flush what is queued (a close frame, the last replies) before the
    // connection goes; a dropped socket (fault) ends it at once.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    app.lock().workers.remove(&id);
    tracing::info!(conn = id, "worker disconnected");
    app.emit(
        "worker:disconnect",
        json!({"payload": {"connection": id}}),
        false,
    );
}

/// Records a new worker connection and announces it.
fn register(app: &App, id: u64, remote: SocketAddr, worker_id: Option<String>, wake: Arc<Notify>) {
    app.lock().workers.insert(
        id,
        WorkerConn {
            worker_id: worker_id.clone(),
            remote: remote.to_string(),
            connected_at: unix_ms(),
            queue_join: None,
            claims: 0,
            claimed_runs: 0,
            wake,
        },
    );
    match &worker_id {
        Some(worker) => tracing::info!(conn = id, %remote, worker_id = %worker, "worker connected"),
        None => tracing::info!(conn = id, %remote, "worker connected (no worker id)"),
    }
    app.emit(
        "worker:connect",
        json!({"payload": {"connection": id, "worker_id": worker_id, "remote": remote.to_string()}}),
        false,
    );
}

/// The writer task: sends queued messages until a close frame, a send error or a `Drop`.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some(out) = rx.recv().await {
        match out {
            Outgoing::Msg(msg) => {
                let closing = matches!(msg, Message::Close(_));
                if sink.send(msg).await.is_err() || closing {
                    break;
                }
            }
            Outgoing::Drop => return,
        }
    }
    let _ = sink.close().await;
}

/// The debounce of `work-available` pushes on one connection.
struct WorkAvailable {
    debounce: Duration,
    last_push: Option<Instant>,
    pending_push: Option<Instant>,
    /// Wakes since the last push: each push reports how many it answers (an observable for
    /// tests and the dashboard: coalescing is visible without waiting for a quiet window).
    wakes: u64,
}

impl WorkAvailable {
    fn new(debounce: Duration) -> Self {
        WorkAvailable {
            debounce,
            last_push: None,
            pending_push: None,
            wakes: 0,
        }
    }

    /// Work became available: push now, or once the debounce window since the last push ends.
    fn on_wake(&mut self, conn: &Conn) {
        let now = Instant::now();
        self.wakes += 1;
        match self.last_push {
            Some(t) if now < t + self.debounce => {
                self.pending_push.get_or_insert(t + self.debounce);
            }
            _ => {
                let since = self.last_push.map(|t| now - t);
                conn.push_work_available(std::mem::take(&mut self.wakes), since);
                self.last_push = Some(now);
            }
        }
    }

    /// The debounce window of a pending push ended.
    fn on_deadline(&mut self, conn: &Conn) {
        self.pending_push = None;
        let since = self.last_push.map(|t| t.elapsed());
        conn.push_work_available(std::mem::take(&mut self.wakes), since);
        self.last_push = Some(Instant::now());
    }
}

fn queue_params(payload: &Value) -> Result<(usize, Option<String>, Vec<String>), Value> {
    let demand = match payload.get("demand") {
        None | Some(Value::Null) => {
            return Err(json!({"errors": {"demand": ["This field can't be blank."]}}));
        }
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_DEMAND).contains(&n) => usize::try_from(n).unwrap_or(1),
            _ => {
                return Err(json!({"errors": {"demand": [
                    format!("must be an integer from 1 to {MAX_DEMAND}")
                ]}}));
            }
        },
    };
    let worker_name = match payload.get("worker_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(json!({"errors": {"worker_name": ["must be a string"]}})),
    };
    let queues = match payload.get("queues") {
        None | Some(Value::Null) => vec!["*".to_owned()],
        Some(Value::Array(items)) => {
            let mut queues = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str() {
                    Some(q) if !q.is_empty() => queues.push(q.to_owned()),
                    _ => {
                        return Err(
                            json!({"errors": {"queues": ["must be a list of queue names"]}}),
                        );
                    }
                }
            }
            queues
        }
        Some(_) => return Err(json!({"errors": {"queues": ["must be a list of queue names"]}})),
    };
    Ok((demand, worker_name, queues))
}

impl Conn {
    /// Handles one WebSocket message (or the stream's end); false when the socket must close.
    fn on_message(&mut self, msg: Option<Result<Message, axum::Error>>) -> bool {
        let id = self.id;
        match msg {
            None | Some(Ok(Message::Close(_))) => false,
            Some(Err(e)) => {
                let text = e.to_string();
                let code = if text.contains("too long") || text.contains("Space limit") {
                    CLOSE_TOO_BIG
                } else {
                    CLOSE_PROTOCOL
                };
                tracing::warn!(conn = id, "closing socket: {text}");
                self.close(code, &text);
                false
            }
            Some(Ok(Message::Text(text))) => match Frame::decode_text(text.as_str()) {
                Ok(frame) => self.on_frame(frame),
                Err(e) => {
                    tracing::warn!(conn = id, "malformed frame: {e}");
                    self.close(CLOSE_INVALID, &format!("malformed frame: {e}"));
                    false
                }
            },
            Some(Ok(Message::Binary(bytes))) => match Frame::decode_client_binary(&bytes) {
                Ok(mut frame) => {
                    if let Payload::Binary(body) = &frame.payload {
                        frame.payload =
                            Payload::Json(serde_json::from_slice(body).unwrap_or(Value::Null));
                    }
                    self.on_frame(frame)
                }
                Err(e) => {
                    tracing::warn!(conn = id, "malformed binary frame: {e}");
                    self.close(CLOSE_INVALID, &format!("malformed binary frame: {e}"));
                    false
                }
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
        }
    }

    fn send(&self, msg: Message) {
        let _ = self.tx.send(Outgoing::Msg(msg));
    }

    fn close(&self, code: u16, reason: &str) {
        // Close reasons are limited to 123 bytes.
        let mut reason = reason.to_owned();
        while reason.len() > 120 {
            reason.pop();
        }
        self.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })));
    }

    /// Sends a reply now or after the injected delay.
    fn send_reply(&self, msg: Message) {
        if self.muted {
            return;
        }
        let delay = self.app.faults().reply_delay();
        if delay.is_zero() {
            self.send(msg);
        } else {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Outgoing::Msg(msg));
            });
        }
    }

    fn reply(&self, frame: &Frame, ok: bool, response: Value) {
        let Some(r#ref) = frame.r#ref.as_deref() else {
            return;
        };
        let status = if ok {
            names::STATUS_OK
        } else {
            names::STATUS_ERROR
        };
        let out = if self.app.config.kit_quirks {
            let response = match (frame.event.as_str(), ok) {
                (names::PHX_JOIN, true) => Some(Value::String("ok".to_owned())),
                (_, true) if response.is_null() => None,
                _ => Some(response),
            };
            Frame::mock_reply(
                frame.join_ref.as_deref(),
                r#ref,
                frame.topic.clone(),
                status,
                response,
            )
        } else {
            Frame::reply(
                frame.join_ref.as_deref(),
                r#ref,
                frame.topic.clone(),
                status,
                Some(response),
            )
        };
        match out.encode_text() {
            Ok(text) => self.send_reply(Message::Text(text.into())),
            Err(e) => tracing::error!(conn = self.id, "cannot encode reply: {e}"),
        }
    }

    fn binary_reply(&self, frame: &Frame, bytes: Vec<u8>) {
        let Some(r#ref) = frame.r#ref.as_deref() else {
            return;
        };
        if self.app.config.kit_quirks {
            self.reply(frame, true, byte_array(&bytes));
            return;
        }
        let out = Frame::binary_reply(
            frame.join_ref.as_deref(),
            r#ref,
            frame.topic.clone(),
            names::STATUS_OK,
            bytes,
        );
        match out.encode_binary(BinaryKind::Reply) {
            Ok(bytes) => self.send_reply(Message::Binary(bytes.into())),
            Err(e) => {
                tracing::error!(conn = self.id, "cannot encode binary reply: {e}");
                self.reply(frame, false, json!({"reason": e.to_string()}));
            }
        }
    }

    /// Pushes `work-available`, answering `wakes` wake-ups (`since`: time since the previous
    /// push, `None` for the first), and emits a dashboard event `work-available` saying so.
    fn push_work_available(&self, wakes: u64, since: Option<Duration>) {
        self.app.emit(
            "work-available",
            json!({"payload": {
                "connection": self.id,
                "wakes": wakes,
                "since_last_push_ms": since.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            }}),
            false,
        );
        let out = if self.app.config.kit_quirks {
            Frame::mock_push("worker:queue", "work-available", &json!({}))
        } else {
            let join_ref = self.joined.get("worker:queue").cloned().flatten();
            Frame::new("worker:queue", "work-available", json!({}))
                .with_refs(join_ref.as_deref(), None)
        };
        if let Ok(text) = out.encode_text() {
            self.send(Message::Text(text.into()));
        }
    }

    /// Handles one frame; false to close the connection (abruptly: a drop fault).
    fn on_frame(&mut self, frame: Frame) -> bool {
        let verdict = self.app.faults().on_message(&frame.event);
        if verdict.reject {
            tracing::info!(conn = self.id, event = %frame.event, "fault: rejecting");
            self.reply(&frame, false, faults::rejection(&frame.event));
        } else if verdict.silent {
            tracing::info!(conn = self.id, event = %frame.event, "fault: no reply");
            self.muted = true;
            self.dispatch(&frame);
            self.muted = false;
        } else {
            self.dispatch(&frame);
        }
        if verdict.drop_socket {
            tracing::info!(conn = self.id, "fault: dropping the socket");
            let _ = self.tx.send(Outgoing::Drop);
            return false;
        }
        true
    }

    fn dispatch(&mut self, frame: &Frame) {
        let payload = frame
            .json_payload()
            .map(std::borrow::Cow::into_owned)
            .unwrap_or(Value::Null);
        let topic = frame.topic.as_str();
        match frame.event.as_str() {
            names::HEARTBEAT if topic == names::PHOENIX => {
                if !self.app.config.kit_quirks {
                    self.reply(frame, true, json!({}));
                }
            }
            names::PHX_JOIN => self.join(frame, &payload),
            names::PHX_LEAVE => {
                if self.joined.remove(topic).is_some() {
                    if topic == "worker:queue"
                        && let Some(w) = self.app.lock().workers.get_mut(&self.id)
                    {
                        w.queue_join = None;
                    }
                    self.reply(frame, true, json!({}));
                } else {
                    self.reply(frame, false, json!({"reason": "unmatched topic"}));
                }
            }
            _ if !self.joined.contains_key(topic) => {
                self.reply(frame, false, json!({"reason": "unmatched topic"}));
            }
            "claim" if topic == "worker:queue" => match queue_params(&payload) {
                Ok((demand, worker_name, queues)) => {
                    let runs = self.app.claim(self.id, demand, worker_name, &queues);
                    if !runs.is_empty() {
                        tracing::info!(conn = self.id, count = runs.len(), "runs claimed");
                    }
                    self.app.emit("claim", json!({"payload": runs}), true);
                    self.reply(frame, true, json!({"runs": runs}));
                }
                Err(errors) => self.reply(frame, false, errors),
            },
            event => {
                let Some(run_id) = topic.strip_prefix("run:") else {
                    self.reply(
                        frame,
                        false,
                        json!({"reason": format!("unknown event {event}")}),
                    );
                    return;
                };
                let outcome = channel::handle(&self.app, run_id, event, &payload);
                if RUN_EVENTS.contains(&event) {
                    self.app.emit_run_event(run_id, event, &payload);
                }
                let (reply, refusal) = match &outcome {
                    Outcome::Ok(_) | Outcome::Binary(_) => ("ok", None),
                    Outcome::Error(response) => ("error", Some(response)),
                    Outcome::NoReply => ("none", None),
                };
                self.app
                    .record_wire(run_id, event, &payload, reply, refusal);
                match outcome {
                    Outcome::Ok(response) => self.reply(frame, true, response),
                    Outcome::Error(response) => {
                        tracing::debug!(conn = self.id, run = run_id, event, %response, "event rejected");
                        self.reply(frame, false, response);
                    }
                    Outcome::Binary(bytes) => self.binary_reply(frame, bytes),
                    Outcome::NoReply => {}
                }
            }
        }
    }

    fn join(&mut self, frame: &Frame, payload: &Value) {
        let topic = frame.topic.as_str();
        if topic == "worker:queue" {
            if let Some(w) = self.app.lock().workers.get_mut(&self.id) {
                w.queue_join = Some(payload.clone());
            }
            self.joined.insert(topic.to_owned(), frame.join_ref.clone());
            self.app.emit(
                "worker:join",
                json!({"payload": {"connection": self.id, "params": payload}}),
                false,
            );
            self.reply(frame, true, json!({}));
        } else if let Some(run_id) = topic.strip_prefix("run:") {
            let joined = self.join_run(run_id, payload);
            let refusal = joined.err().map(|reason| json!({ "reason": reason }));
            let reply = if refusal.is_some() { "error" } else { "ok" };
            self.app
                .record_wire(run_id, names::PHX_JOIN, payload, reply, refusal.as_ref());
            match joined {
                Ok(()) => {
                    self.joined.insert(topic.to_owned(), frame.join_ref.clone());
                    self.app.emit(
                        "run:join",
                        json!({"runId": run_id, "payload": {"connection": self.id}}),
                        false,
                    );
                    self.reply(frame, true, json!({}));
                }
                Err(reason) => self.reply(frame, false, json!({ "reason": reason })),
            }
        } else {
            self.reply(frame, false, json!({"reason": "unmatched topic"}));
        }
    }

    fn join_run(&self, run_id: &str, payload: &Value) -> Result<(), &'static str> {
        let Some(token) = payload.get("token").and_then(Value::as_str) else {
            return Err("unauthorized");
        };
        if let Some(tokens) = &self.app.tokens
            && let Err(e) = tokens.verify(token, Some(run_id))
        {
            tracing::info!(conn = self.id, run = run_id, "run token rejected: {e}");
            return Err("unauthorized");
        }
        let mut inner = self.app.lock();
        let run = inner.runs.get_mut(run_id).ok_or("not_found")?;
        run.joined = true;
        run.claim_deadline = None;
        Ok(())
    }
}
