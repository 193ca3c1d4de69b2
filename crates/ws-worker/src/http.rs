//! The worker's HTTP API (§6.4, plus `/readyz` and `/metrics`): `GET /` and `GET /livez` answer
//! `OK`, `POST /claim` claims once per free workloop (200 `complete` / 204), `GET /readyz` is
//! 200 only while joined to `worker:queue`, `GET /metrics` is Prometheus text.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::worker::Worker;

/// The routes, bound to a worker.
pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/claim", post(claim))
        .with_state(worker)
}

async fn ok() -> &'static str {
    "OK"
}

async fn readyz(State(w): State<Worker>) -> impl IntoResponse {
    if w.ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(w): State<Worker>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        w.metrics_text(),
    )
}

async fn claim(State(w): State<Worker>) -> axum::response::Response {
    if w.claim_all().await {
        (StatusCode::OK, "complete").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// Serves `listener` until the worker starts shutting down.
pub async fn serve(listener: tokio::net::TcpListener, worker: Worker) -> std::io::Result<()> {
    let w = worker.clone();
    axum::serve(listener, router(worker))
        .with_graceful_shutdown(async move { w.shutdown_started().await })
        .await
}
