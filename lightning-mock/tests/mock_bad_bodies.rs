//! Bad dev API bodies: each is refused with a 4xx whose message names what is wrong, never a
//! 5xx or a dropped connection, and the mock goes on serving (nothing accepted is lost).

mod common;

use common::{get, http, post, start};
use serde_json::{Value, json};

async fn post_text(
    mock: &openfn_lightning_mock::ServerHandle,
    path: &str,
    body: &str,
) -> (u16, String) {
    let res = http()
        .post(format!("{}{path}", mock.url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.expect("body"))
}

#[tokio::test]
async fn bad_bodies_are_refused_with_a_reason() {
    let mock = start().await;
    let (status, _) = post(
        &mock,
        "/run",
        json!({"id": "kept", "jobs": [{"id": "j", "body": "x"}]}),
    )
    .await;
    assert_eq!(status, 200);

    // Not JSON, truncated, or JSON nested past any parser's comfort.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for path in ["/run", "/credentials", "/dataclips", "/faults"] {
        for body in ["not json", "{\"id\": ", deep.as_str()] {
            let (status, text) = post_text(&mock, path, body).await;
            assert!(
                (400..500).contains(&status),
                "{path} {:?}: {status} {text}",
                &body[..8.min(body.len())]
            );
            assert!(!text.is_empty(), "{path}: no reason given");
        }
    }

    // Wrong types name the field.
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/run", json!({"jobs": "x"}), "jobs"),
        ("/run", json!({"jobs": [{"id": 1, "body": "x"}]}), "id"),
        ("/run", json!({"edges": {"a": 1}}), "edges"),
        ("/run", json!([1, 2]), ""),
        ("/credentials", json!({"id": 5, "body": {}}), "id"),
        ("/dataclips", json!({"id": "c"}), "body"),
        ("/dataclips", json!({"body": {}}), "id"),
        (
            "/faults",
            json!({"refuse_connections_ms": "soon"}),
            "refuse_connections_ms",
        ),
    ];
    for (path, body, field) in cases {
        let (status, text) = post(&mock, path, body.clone()).await;
        assert!(
            (400..500).contains(&status),
            "{path} {body}: {status} {text}"
        );
        assert!(
            text.to_string().contains(field),
            "{path} {body}: {text} does not name {field}"
        );
    }

    // The mock still serves, and what it accepted before is still there.
    let (status, run) = get(&mock, "/runs/kept").await;
    assert_eq!(status, 200);
    assert_eq!(run["status"], "queued");
}
