//! Bad dev API bodies: each is refused with a 4xx whose message names what is wrong, never a
//! 5xx or a dropped connection, and the mock goes on serving (nothing accepted is lost).

mod common;

use common::{get, http, plan, post, start, tiny};
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
    let (status, _) = post(&mock, "/run", tiny(Some("kept"))).await;
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

/// `POST /run` refuses a plan Lightning could never send, before anything is queued: 400 with
/// `{"error", "field", "reason", "problems"}` naming the JSON path at fault.
#[tokio::test]
async fn plans_are_checked_before_they_are_queued() {
    let mock = start().await;
    for (what, body, field) in invalid_plans() {
        let (status, reply) = post(&mock, "/run", body).await;
        assert_eq!(status, 400, "{what}: {reply}");
        assert_eq!(reply["field"], field, "{what}: {reply}");
        let reason = reply["reason"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{what}: no reason: {reply}");
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(
            error.starts_with("invalid plan: ") && error.contains(field) && error.contains(reason),
            "{what}: {reply}"
        );
        assert!(
            reply["problems"].as_array().is_some_and(|p| !p.is_empty()),
            "{what}: {reply}"
        );
    }
    // Every problem is listed, not only the first.
    let (_, reply) = post(&mock, "/run", json!({})).await;
    let fields: Vec<&str> = reply["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(fields, ["jobs", "triggers"], "{reply}");
    // Nothing was queued, and a good plan still is.
    assert_eq!(get(&mock, "/runs").await.1, json!([]));
    assert_eq!(post(&mock, "/run", plan("good")).await.0, 200);
    let (status, reply) = post(&mock, "/run", plan("good")).await;
    assert_eq!((status, &reply["field"]), (400, &json!("id")), "{reply}");
    // A plan may start at a job without any trigger (as Lightning does for a step re-run).
    let start_at_job =
        json!({"jobs": [{"id": "a", "body": "fn(s => s)"}], "starting_node_id": "a"});
    assert_eq!(post(&mock, "/run", start_at_job).await.0, 200);
    mock.shutdown().await;
}

/// The test plan without the member at `path` (object keys and array indexes).
fn plan_without(path: &[&str]) -> Value {
    let mut p = plan("p");
    let (last, parents) = path.split_last().expect("a path");
    let mut at = &mut p;
    for key in parents {
        at = match key.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*key],
        };
    }
    at.as_object_mut().map(|o| o.remove(*last));
    p
}

/// The test plan with `value` at the JSON `pointer`.
fn plan_with(pointer: &str, value: Value) -> Value {
    let mut p = plan("p");
    *p.pointer_mut(pointer).expect("pointer") = value;
    p
}

/// Plans Lightning could never send: what is wrong, the plan, the field the refusal names.
fn invalid_plans() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("empty", json!({}), "jobs"),
        (
            "no body",
            plan_without(&["jobs", "1", "body"]),
            "jobs[1].body",
        ),
        (
            "null body",
            plan_with("/jobs/0/body", Value::Null),
            "jobs[0].body",
        ),
        (
            "no trigger",
            json!({"jobs": [{"id": "a", "body": "fn(s => s)"}]}),
            "triggers",
        ),
        (
            "edge from a missing trigger",
            plan_without(&["triggers"]),
            "edges[0].source_trigger_id",
        ),
        (
            "dangling target",
            plan_with("/edges/1/target_job_id", json!("nope")),
            "edges[1].target_job_id",
        ),
        (
            "dangling source job",
            plan_with("/edges/1/source_job_id", json!("nope")),
            "edges[1].source_job_id",
        ),
        (
            "dangling trigger",
            plan_with("/edges/0/source_trigger_id", json!("t9")),
            "edges[0].source_trigger_id",
        ),
        (
            "duplicate job id",
            plan_with("/jobs/1/id", json!("j1")),
            "jobs[1].id",
        ),
        (
            "job named like the trigger",
            plan_with("/jobs/0/id", json!("t1")),
            "jobs[0].id",
        ),
        (
            "missing start",
            plan_with("/starting_node_id", json!("x")),
            "starting_node_id",
        ),
        (
            "path adaptor",
            plan_with("/jobs/0/adaptor", json!("common=./src")),
            "jobs[0].adaptor",
        ),
        (
            "wrong type",
            plan_with("/jobs/0/body", json!(5)),
            "jobs[0].body",
        ),
    ]
}
