//! The HTTP side: the dev API (`/reset`, `/credentials`, `/dataclips`, `/run`, `/runs`,
//! `/events`, `/workers`, `/faults`), the collections API, the dashboard and the worker socket
//! route.

use std::collections::HashMap;
use std::convert::Infallible;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use tokio_stream::wrappers::BroadcastStream;

use crate::collections::{self, bytes_body::parse_json};
use crate::dashboard;
use crate::faults::Faults;
use crate::plan_check;
use crate::socket::{self, Ctx};
use crate::state::{RunStatus, parse_priority};

/// Largest HTTP request body (plans and dataclips can be big).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// All routes.
pub(crate) fn router(ctx: Ctx) -> Router {
    Router::new()
        .route("/", get(dashboard_page))
        .route("/livez", get(|| async { "OK" }))
        .route("/worker/websocket", get(socket::upgrade))
        .route("/reset", post(reset))
        .route("/credentials", post(add_credential))
        .route("/dataclips", post(add_dataclip))
        .route("/run", post(post_run))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/workers", get(workers))
        .route("/events", get(events))
        .route(
            "/faults",
            get(get_faults).post(post_faults).delete(clear_faults),
        )
        .route(
            "/collections/{name}",
            get(collections::stream)
                .post(collections::put_all)
                .delete(collections::delete_all),
        )
        .route(
            "/collections/{name}/{key}",
            get(collections::get)
                .put(collections::put)
                .delete(collections::delete),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(ctx)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

async fn dashboard_page(State(ctx): State<Ctx>) -> Html<String> {
    Html(dashboard::render(&ctx.app))
}

async fn reset(State(ctx): State<Ctx>) -> Response {
    ctx.app.reset();
    axum::Json(json!({"ok": true})).into_response()
}

/// Reads `{"id": "<id>", "body": <json>}`.
fn id_and_body(body: &[u8]) -> Result<(String, Value), Response> {
    let value = parse_json(body)?;
    let id = match value.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "expected {\"id\": \"<id>\", \"body\": <json>}: missing id",
            ));
        }
    };
    let Some(body) = value.get("body").cloned() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "expected {\"id\": \"<id>\", \"body\": <json>}: missing body",
        ));
    };
    Ok((id, body))
}

async fn add_credential(State(ctx): State<Ctx>, body: Bytes) -> Response {
    match id_and_body(&body) {
        Ok((id, body)) => {
            ctx.app.add_credential(id.clone(), body);
            (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
        }
        Err(r) => r,
    }
}

async fn add_dataclip(State(ctx): State<Ctx>, body: Bytes) -> Response {
    match id_and_body(&body) {
        Ok((id, body)) => {
            ctx.app.add_dataclip(id.clone(), body);
            (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
        }
        Err(r) => r,
    }
}

/// `POST /run[?wakeup=true][&queue=<name>][&priority=immediate|normal|<n>]`.
async fn post_run(
    State(ctx): State<Ctx>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if body.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "expected a Lightning plan as the body",
        );
    }
    let mut plan = match parse_json(&body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(problems) = plan_check::check_and_normalise(&mut plan) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(plan_check::problems_json(&problems)),
        )
            .into_response();
    }
    let priority = match params.get("priority") {
        None => None,
        Some(p) => match parse_priority(&Value::String(p.clone())) {
            Some(p) => Some(p),
            None => return error(StatusCode::BAD_REQUEST, format!("invalid priority {p}")),
        },
    };
    match ctx
        .app
        .enqueue(plan, params.get("queue").cloned(), priority)
    {
        Ok(id) => {
            let wakeup = flag(&params, "wakeup");
            if wakeup || ctx.app.config.push_on_enqueue {
                ctx.app.wake_workers();
            }
            axum::Json(json!({"id": id})).into_response()
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            axum::Json(plan_check::problems_json(&[plan_check::Problem::new(
                "id", message,
            )])),
        )
            .into_response(),
    }
}

/// `GET /runs[?status=queued|claimed|started|complete|lost][&limit=<newest n>]`.
async fn list_runs(
    State(ctx): State<Ctx>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let status = match params.get("status") {
        None => None,
        Some(s) => match serde_json::from_value::<RunStatus>(Value::String(s.clone())) {
            Ok(status) => Some(status),
            Err(_) => return error(StatusCode::BAD_REQUEST, format!("unknown status {s}")),
        },
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "limit must be a number"),
    };
    axum::Json(ctx.app.runs_filtered(status, limit)).into_response()
}

async fn get_run(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    match ctx.app.run_view(&id) {
        Some(run) => axum::Json(run).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no run {id}")),
    }
}

async fn workers(State(ctx): State<Ctx>) -> Response {
    axum::Json(json!({"workers": ctx.app.workers_view(), "queued": ctx.app.queue_len()}))
        .into_response()
}

/// Whether a query flag is on (`?flag`, `?flag=true`; not `false` or `0`).
fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| !matches!(v.as_str(), "false" | "0"))
}

/// A `claim` event that handed out no run (a worker polling an empty queue).
fn is_empty_claim(ev: &crate::state::Event) -> bool {
    ev.name == "claim" && ev.data["payload"].as_array().is_some_and(Vec::is_empty)
}

/// `GET /events[?all=true][&empty_claims=true]`: server-sent events; the stream ends when the
/// server shuts down. Claims that gave no run are left out unless `empty_claims` is set.
async fn events(
    State(ctx): State<Ctx>,
    Query(params): Query<HashMap<String, String>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let all = flag(&params, "all");
    let empty_claims = flag(&params, "empty_claims");
    let rx = ctx.app.events.subscribe();
    let mut shutdown = ctx.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    let stream = BroadcastStream::new(rx)
        .take_until(stopped)
        .filter_map(move |item| {
            let out = match item {
                Ok(ev) if (ev.public || all) && (empty_claims || !is_empty_claim(&ev)) => {
                    Some(Ok(SseEvent::default()
                        .event(ev.name)
                        .data(ev.data.to_string())))
                }
                Ok(_) => None,
                Err(lagged) => {
                    tracing::warn!("an /events listener fell behind: {lagged}");
                    None
                }
            };
            std::future::ready(out)
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn get_faults(State(ctx): State<Ctx>) -> Response {
    axum::Json(ctx.app.faults().to_json()).into_response()
}

async fn post_faults(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let value = match parse_json(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // The error names the field at fault (`refuse_connections_ms: invalid type …`).
    match serde_path_to_error::deserialize::<_, Faults>(value) {
        Ok(faults) => {
            let mut state = ctx.app.faults();
            state.apply(&faults);
            axum::Json(state.to_json()).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, format!("invalid faults: {e}")),
    }
}

async fn clear_faults(State(ctx): State<Ctx>) -> Response {
    let mut state = ctx.app.faults();
    state.clear();
    axum::Json(state.to_json()).into_response()
}
