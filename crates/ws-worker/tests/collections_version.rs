//! Collections start-up: a non-exact `--collections-version` (or none) is resolved once against
//! the registry; an exact one, or collections off, asks nothing; a registry that cannot answer
//! leaves the configured version in place.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use openfn_repo::RegistryConfig;
use openfn_ws_worker::collections::resolve_collections_version;
use serde_json::json;

/// A registry serving one packument for the collections adaptor; counts requests.
async fn registry(status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .fallback(
            |State((status, hits)): State<(StatusCode, Arc<AtomicUsize>)>, uri: Uri| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                if status != StatusCode::OK || uri.path() != "/@openfn%2flanguage-collections" {
                    return Response::builder()
                        .status(if status == StatusCode::OK {
                            StatusCode::NOT_FOUND
                        } else {
                            status
                        })
                        .body(axum::body::Body::empty())
                        .expect("response");
                }
                let version = |v: &str| {
                    json!({
                        "name": "@openfn/language-collections",
                        "version": v,
                        "dist": { "tarball": format!("http://unused/{v}.tgz") }
                    })
                };
                axum::Json(json!({
                    "name": "@openfn/language-collections",
                    "dist-tags": { "latest": "0.8.0", "next": "0.9.0-beta.1" },
                    "versions": {
                        "0.7.1": version("0.7.1"),
                        "0.8.0": version("0.8.0"),
                        "0.9.0-beta.1": version("0.9.0-beta.1"),
                    }
                }))
                .into_response()
            },
        )
        .with_state((status, hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

fn config_for(url: &str) -> RegistryConfig {
    RegistryConfig::from_sources(Some(url), None, |_| None)
}

#[tokio::test]
async fn latest_tags_ranges_and_none_resolve_once() {
    let (url, hits) = registry(StatusCode::OK).await;
    let repo = tempfile::tempdir().expect("tmp");
    for (flags, expected) in [
        (vec!["--collections-url", "http://c"], "0.8.0"),
        (
            vec![
                "--collections-url",
                "http://c",
                "--collections-version",
                "latest",
            ],
            "0.8.0",
        ),
        (
            vec![
                "--collections-url",
                "http://c",
                "--collections-version",
                "next",
            ],
            "0.9.0-beta.1",
        ),
        (
            vec![
                "--collections-url",
                "http://c",
                "--collections-version",
                "^0.7",
            ],
            "0.7.1",
        ),
    ] {
        let mut config = support::worker_config("ws://127.0.0.1:1", &flags, &[]);
        let outcome = resolve_collections_version(&mut config, repo.path(), config_for(&url)).await;
        assert_eq!(outcome, Some(Ok(expected.to_string())), "{flags:?}");
        assert_eq!(config.collections_version.as_deref(), Some(expected));
    }
    // one registry request per configuration above, none repeated
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // nothing was installed
    assert!(!repo.path().join("node_modules").exists());
}

#[tokio::test]
async fn exact_versions_and_collections_off_ask_nothing() {
    let (url, hits) = registry(StatusCode::OK).await;
    let repo = tempfile::tempdir().expect("tmp");
    let mut exact = support::worker_config(
        "ws://127.0.0.1:1",
        &[
            "--collections-url",
            "http://c",
            "--collections-version",
            "0.7.1",
        ],
        &[],
    );
    assert_eq!(
        resolve_collections_version(&mut exact, repo.path(), config_for(&url)).await,
        None
    );
    assert_eq!(exact.collections_version.as_deref(), Some("0.7.1"));
    let mut off = support::worker_config("ws://127.0.0.1:1", &[], &[]);
    assert_eq!(
        resolve_collections_version(&mut off, repo.path(), config_for(&url)).await,
        None
    );
    assert_eq!(off.collections_version, None);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unanswering_registry_keeps_the_configured_version() {
    let (url, _) = registry(StatusCode::NOT_FOUND).await;
    let repo = tempfile::tempdir().expect("tmp");
    let mut config = support::worker_config(
        "ws://127.0.0.1:1",
        &[
            "--collections-url",
            "http://c",
            "--collections-version",
            "latest",
        ],
        &[],
    );
    let outcome = resolve_collections_version(&mut config, repo.path(), config_for(&url)).await;
    assert!(matches!(outcome, Some(Err(_))), "{outcome:?}");
    assert_eq!(config.collections_version.as_deref(), Some("latest"));
}
