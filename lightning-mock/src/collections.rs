//! The collections API (`/collections/:name`…) used by `@openfn/language-collections`, with the
//! run token as bearer, shaped like Lightning's: streamed `{"items", "cursor"}` pages, key
//! patterns with `*`, upserts and deletes. Unlike Lightning, writing to an unknown collection
//! creates it.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes_body::parse_json;
use serde_json::{Value, json};

use crate::socket::Ctx;
use crate::state::Item;

/// Default and largest page size.
const DEFAULT_LIMIT: usize = 1000;

pub(crate) mod bytes_body {
    //! JSON request bodies, parsed whatever the content type says.
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use serde_json::{Value, json};

    /// Parses a body as JSON, or answers 400 with the reason.
    pub(crate) fn parse_json(body: &[u8]) -> Result<Value, Response> {
        serde_json::from_slice(body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": format!("invalid JSON body: {e}")})),
            )
                .into_response()
        })
    }
}

fn iso_now() -> String {
    let ms = crate::state::unix_ms();
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Whether `key` matches a pattern where `*` stands for any run of characters.
pub(crate) fn matches_pattern(pattern: &str, key: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == key;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !key.starts_with(first) || key.len() < first.len() + last.len() || !key.ends_with(last) {
        return false;
    }
    let mut rest = &key[first.len()..key.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "Unauthorized"})),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "Not Found"})),
    )
        .into_response()
}

/// Checks the bearer token: a valid run token when the mock signs them, else any token
/// (the `x.y.z` placeholder included).
fn authorize(ctx: &Ctx, headers: &HeaderMap) -> Result<(), Response> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(unauthorized)?;
    match &ctx.app.tokens {
        Some(tokens) => tokens.verify(token, None).map_err(|e| {
            tracing::info!("collections token rejected: {e}");
            unauthorized()
        }),
        None => Ok(()),
    }
}

fn item_json(key: &str, item: &Item) -> Value {
    json!({"key": key, "value": item.value, "created": item.created, "updated": item.updated})
}

/// `GET /collections/:name?key=<pattern>&cursor=&limit=` (also `query=` for the pattern).
pub(crate) async fn stream(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let bad =
        |msg: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({"error": msg}))).into_response();
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if n > 0 => n.min(DEFAULT_LIMIT),
        Some(_) => return bad("limit must be a positive integer"),
    };
    let after = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.parse::<u64>().ok());
            match decoded {
                Some(id) => id,
                None => return bad("invalid cursor"),
            }
        }
    };
    let pattern = params
        .get("key")
        .or_else(|| params.get("query"))
        .cloned()
        .unwrap_or_else(|| "*".to_owned());
    let inner = ctx.app.lock();
    let Some(collection) = inner.collections.get(&name) else {
        return not_found();
    };
    let mut matching: Vec<(&String, &Item)> = collection
        .iter()
        .filter(|(key, item)| item.id > after && matches_pattern(&pattern, key))
        .collect();
    matching.sort_by_key(|(_, item)| item.id);
    let more = matching.len() > limit;
    matching.truncate(limit);
    let cursor = if more {
        matching
            .last()
            .map(|(_, item)| base64::engine::general_purpose::STANDARD.encode(item.id.to_string()))
    } else {
        None
    };
    let items: Vec<Value> = matching.iter().map(|(k, i)| item_json(k, i)).collect();
    axum::Json(json!({"items": items, "cursor": cursor})).into_response()
}

/// `GET /collections/:name/:key` → the item, or 204 when the key is absent.
pub(crate) async fn get(
    State(ctx): State<Ctx>,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let inner = ctx.app.lock();
    let Some(collection) = inner.collections.get(&name) else {
        return not_found();
    };
    match collection.get(&key) {
        Some(item) => axum::Json(item_json(&key, item)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn upsert(collections: &mut BTreeMap<String, Item>, seq: &mut u64, key: String, value: Value) {
    let now = iso_now();
    *seq += 1;
    let id = *seq;
    collections
        .entry(key)
        .and_modify(|item| {
            item.value = value.clone();
            item.updated.clone_from(&now);
        })
        .or_insert_with(|| Item {
            id,
            value,
            created: now.clone(),
            updated: now.clone(),
        });
}

fn missing(field: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"error": format!("Missing required field: {field}")})),
    )
        .into_response()
}

/// `PUT /collections/:name/:key` with `{"value": …}`.
pub(crate) async fn put(
    State(ctx): State<Ctx>,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(value) = body.get("value").cloned() else {
        return missing("value");
    };
    let mut inner = ctx.app.lock();
    let inner = &mut *inner;
    let collection = inner.collections.entry(name).or_default();
    upsert(collection, &mut inner.seq, key, value);
    axum::Json(json!({"upserted": 1, "error": null})).into_response()
}

/// `POST /collections/:name` with `{"items": [{"key", "value"}, …]}`.
pub(crate) async fn put_all(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let body = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(items) = body.get("items").and_then(Value::as_array) else {
        return missing("items");
    };
    let mut pairs = Vec::with_capacity(items.len());
    for item in items {
        let (Some(key), Some(value)) = (item.get("key").and_then(Value::as_str), item.get("value"))
        else {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(
                    json!({"upserted": 0, "error": "each item needs a string key and a value"}),
                ),
            )
                .into_response();
        };
        if pairs.iter().any(|(k, _)| k == key) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"upserted": 0, "error": "Duplicate key found"})),
            )
                .into_response();
        }
        pairs.push((key.to_owned(), value.clone()));
    }
    let count = pairs.len();
    let mut inner = ctx.app.lock();
    let inner = &mut *inner;
    let collection = inner.collections.entry(name).or_default();
    for (key, value) in pairs {
        upsert(collection, &mut inner.seq, key, value);
    }
    axum::Json(json!({"upserted": count, "error": null})).into_response()
}

/// `DELETE /collections/:name/:key`.
pub(crate) async fn delete(
    State(ctx): State<Ctx>,
    Path((name, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let mut inner = ctx.app.lock();
    let Some(collection) = inner.collections.get_mut(&name) else {
        return not_found();
    };
    if collection.remove(&key).is_some() {
        axum::Json(json!({"key": key, "deleted": 1, "error": null})).into_response()
    } else {
        axum::Json(json!({"key": key, "deleted": 0, "error": "Item Not Found"})).into_response()
    }
}

/// `DELETE /collections/:name?key=<pattern>` (no key: everything).
pub(crate) async fn delete_all(
    State(ctx): State<Ctx>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&ctx, &headers) {
        return r;
    }
    let pattern = params.get("key").cloned();
    let mut inner = ctx.app.lock();
    let Some(collection) = inner.collections.get_mut(&name) else {
        return not_found();
    };
    let before = collection.len();
    collection.retain(|key, _| !matches_pattern(pattern.as_deref().unwrap_or("*"), key));
    let deleted = before - collection.len();
    axum::Json(json!({"key": pattern, "deleted": deleted, "error": null})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches_pattern("*", "anything"));
        assert!(matches_pattern("a*", "abc"));
        assert!(matches_pattern("*c", "abc"));
        assert!(matches_pattern("a*c", "abc"));
        assert!(matches_pattern("a*b*c", "a-b-c"));
        assert!(!matches_pattern("a*b*c", "a-c"));
        assert!(!matches_pattern("ab*ba", "aba"));
        assert!(matches_pattern("key", "key"));
        assert!(!matches_pattern("key", "key2"));
    }

    #[test]
    fn iso_timestamps_look_right() {
        let now = iso_now();
        assert_eq!(now.len(), "2026-11-23T11:41:55.123000Z".len(), "{now}");
        assert!(now.starts_with("20"), "{now}");
        assert!(now.ends_with('Z'));
    }
}
