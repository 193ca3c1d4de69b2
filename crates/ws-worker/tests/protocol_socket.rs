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
use tokio_tungstenite::tungstenite::Message;

/// Accepts connections forever; answers the first `answer` heartbeats of each connection.
async fn server(
    listener: tokio::net::TcpListener,
    answer: usize,
    heartbeats: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        connections.fetch_add(1, Ordering::SeqCst);
        let heartbeats = heartbeats.clone();
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

async fn setup(answer: usize) -> (Socket, Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<Metrics>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let heartbeats = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    tokio::spawn(server(
        listener,
        answer,
        heartbeats.clone(),
        connections.clone(),
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
        },
        metrics.clone(),
    );
    (socket, heartbeats, connections, metrics)
}

async fn wait(what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pred() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_peer_that_never_answers_heartbeats_is_tolerated() {
    let (socket, heartbeats, connections, metrics) = setup(0).await;
    wait("five heartbeats", || heartbeats.load(Ordering::SeqCst) >= 5).await;
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.reconnects(), 0);
    assert!(socket.state().connected);
    socket.close();
}

#[tokio::test]
async fn a_peer_that_stops_answering_heartbeats_is_reconnected() {
    let (socket, _heartbeats, connections, metrics) = setup(1).await;
    wait("a reconnect", || {
        connections.load(Ordering::SeqCst) >= 2 && metrics.reconnects() >= 1
    })
    .await;
    wait("connected again", || socket.state().connected).await;
    assert!(socket.state().epoch >= 2);
    socket.close();
}
