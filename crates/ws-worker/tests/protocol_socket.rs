//! The socket client on its own: heartbeats are sent on schedule, a peer that never answers
//! them (the kit mock) is tolerated, a peer that answered once and then goes silent is dropped
//! and reconnected, and pushes get `Disconnected` when the connection goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use openfn_ws_worker::metrics::Metrics;
use openfn_ws_worker::socket::{Socket, SocketConfig};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// Accepts connections forever; answers the first `answer` heartbeats of each connection.
/// Signals `seen` on every heartbeat it receives.
async fn server(
    listener: tokio::net::TcpListener,
    answer: usize,
    heartbeats: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    seen: Arc<Notify>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        let heartbeats = heartbeats.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            let (mut tx, mut rx) = ws.split();
            let mut answered = 0;
            while let Some(Ok(Message::Text(t))) = rx.next().await {
                let Ok(f) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                if f[3] == "heartbeat" {
                    heartbeats.fetch_add(1, Ordering::SeqCst);
                    seen.notify_waiters();
                    if answered < answer {
                        answered += 1;
                        let reply = json!([null, f[1], "phoenix", "phx_reply", {"status": "ok", "response": {}}]);
                        if tx.send(Message::text(reply.to_string())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

struct Setup {
    socket: Socket,
    heartbeats: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    /// Signalled on every heartbeat the server receives.
    heartbeat_seen: Arc<Notify>,
}

async fn setup(answer: usize) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heartbeats = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let heartbeat_seen = Arc::new(Notify::new());
    tokio::spawn(server(
        listener,
        answer,
        heartbeats.clone(),
        connections.clone(),
        heartbeat_seen.clone(),
    ));
    let metrics = Arc::new(Metrics::default());
    let socket = Socket::start(
        SocketConfig {
            base_url: format!("ws://{addr}/worker"),
            token: "t".into(),
            worker_version: "test".into(),
            ca_file: None,
            proxy: None,
            heartbeat: Duration::from_millis(40),
            reconnect_step: Duration::from_millis(20),
            max_message_bytes: 1 << 20,
        },
        metrics.clone(),
    );
    Setup {
        socket,
        heartbeats,
        connections,
        metrics,
        heartbeat_seen,
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_peer_that_never_answers_heartbeats_is_tolerated() {
    let s = setup(0).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        // registered before looking, so a heartbeat in between still wakes us
        let next = s.heartbeat_seen.notified();
        if s.heartbeats.load(Ordering::SeqCst) >= 5 {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, next).await.is_ok(),
            "timed out waiting for five heartbeats"
        );
    }
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
    assert_eq!(s.metrics.reconnects(), 0);
    assert!(s.socket.state().connected);
    s.socket.close();
}

#[tokio::test]
async fn a_peer_that_stops_answering_heartbeats_is_reconnected() {
    let s = setup(1).await;
    // the socket's own state: connected again on a newer connection
    let epoch = tokio::time::timeout(WAIT, s.socket.connected_after(1))
        .await
        .expect("timed out waiting for a reconnect")
        .expect("socket open");
    // The server keeps failing every new connection's heartbeats, so the socket keeps
    // reconnecting: these counts only grow, and each is a lower bound.
    assert!(epoch >= 2);
    assert!(s.connections.load(Ordering::SeqCst) >= 2);
    assert!(s.metrics.reconnects() >= 1);
    assert!(s.socket.state().epoch >= 2);
    s.socket.close();
}
