//! The dev HTTP API with the exact shapes test harnesses rely on, `GET /events` (SSE), the
//! collections API and fault injection.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Incoming, WAIT, get, http, plan, post, start, tiny};
use futures_util::StreamExt;
use openfn_lightning_mock::ServerHandle;
use serde_json::{Value, json};

#[tokio::test]
async fn dev_api_shapes() {
    let mock = start().await;
    store_a_credential_and_a_dataclip(&mock).await;
    let generated = post_a_plan_with_an_inline_credential(&mock).await;
    assert_listed_as_queued(&mock, &generated).await;
    assert_stored_values_served_on_the_run_channel(&mock, &generated).await;
    assert_reset_and_list_filters(&mock).await;
    mock.shutdown().await;
}

/// `POST /credentials` and `POST /dataclips`; a credential without id is refused.
async fn store_a_credential_and_a_dataclip(mock: &ServerHandle) {
    let (status, body) = post(
        mock,
        "/credentials",
        json!({"id": "cred", "body": {"token": "abc"}}),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let (status, _) = post(
        mock,
        "/dataclips",
        json!({"id": "clip", "body": {"data": {"n": 1}}}),
    )
    .await;
    assert!((200..300).contains(&status));
    let (status, body) = post(mock, "/credentials", json!({"body": {}})).await;
    assert_eq!(status, 400, "{body}");
}

/// A plan without id gets one; inline credentials are stored and replaced by an id; a short
/// adaptor name is expanded like the kit CLI does. A duplicate id or no body is refused.
/// The generated id.
async fn post_a_plan_with_an_inline_credential(mock: &ServerHandle) -> String {
    let (status, body) = post(
        mock,
        "/run",
        json!({"triggers": [{"id": "t"}], "jobs": [{"id": "j", "adaptor": "common", "body": "x", "credential": {"pw": "s"}}]}),
    )
    .await;
    assert_eq!(status, 200);
    let generated = body["id"].as_str().expect("generated id").to_owned();
    assert_eq!(generated.len(), 36, "a uuid");
    let (status, _) = post(mock, "/run", tiny(Some(&generated))).await;
    assert_eq!(status, 400, "duplicate id");
    let res = http()
        .post(format!("{}/run", mock.url()))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 400, "no body");
    generated
}

/// `GET /runs` lists the run queued, with every field a harness reads; an unknown id is 404.
async fn assert_listed_as_queued(mock: &ServerHandle, generated: &str) {
    let (status, runs) = get(mock, "/runs").await;
    assert_eq!(status, 200);
    let runs = runs.as_array().expect("list");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["id"], generated);
    assert_eq!(run["status"], "queued");
    for key in [
        "reason",
        "error_type",
        "error_message",
        "final_state",
        "final_dataclip_id",
    ] {
        assert_eq!(run[key], Value::Null, "{key}");
    }
    assert_eq!(
        (run["steps"].clone(), run["logs"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(get(mock, "/runs/nope").await.0, 404);
}

/// The stored credential and dataclip are served on the run channel.
async fn assert_stored_values_served_on_the_run_channel(mock: &ServerHandle, generated: &str) {
    let mut c = Client::connect(mock, "token=t").await;
    let q = c.join_queue().await;
    c.claim(&q, 1, &["*"]).await;
    let topic = format!("run:{generated}");
    let (j, _) = c.join(&topic, json!({"token": "x.y.z"})).await;
    let plan = c.call(Some(&j), &topic, "fetch:plan", json!({})).await;
    assert_eq!(
        plan["response"]["jobs"][0]["adaptor"],
        "@openfn/language-common@latest"
    );
    let cred_id = plan["response"]["jobs"][0]["credential"]
        .as_str()
        .expect("credential id")
        .to_owned();
    let reply = c
        .call(Some(&j), &topic, "fetch:credential", json!({"id": cred_id}))
        .await;
    assert_eq!(reply["response"], json!({"pw": "s"}));
    let reply = c
        .call(Some(&j), &topic, "fetch:credential", json!({"id": "cred"}))
        .await;
    assert_eq!(reply["response"], json!({"token": "abc"}));
    let r = c.fresh_ref();
    c.send_frame(json!([j, r, topic, "fetch:dataclip", {"id": "clip"}]))
        .await;
    let Incoming::Binary(bytes) = c.reply_to(&r).await else {
        panic!("binary reply");
    };
    assert_eq!(common::split_binary_reply(&bytes).4, br#"{"data":{"n":1}}"#);
}

/// `POST /reset` empties the runs (credentials survive); `?limit` and `?status` filter the list.
async fn assert_reset_and_list_filters(mock: &ServerHandle) {
    let (status, _) = post(mock, "/reset", json!({})).await;
    assert!((200..300).contains(&status));
    assert_eq!(get(mock, "/runs").await.1, json!([]));
    // Credentials survive a reset.
    post(mock, "/run", tiny(Some("after-reset"))).await;
    assert_eq!(get(mock, "/runs").await.1.as_array().map(Vec::len), Some(1));
    post(mock, "/run", tiny(Some("newest"))).await;
    let newest = get(mock, "/runs?limit=1").await.1;
    assert_eq!(newest[0]["id"], "newest");
    assert_eq!(newest.as_array().map(Vec::len), Some(1));
    assert_eq!(
        get(mock, "/runs?status=queued")
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(get(mock, "/runs?status=complete").await.1, json!([]));
    assert_eq!(get(mock, "/runs?status=bogus").await.0, 400);
}

/// Reads SSE events until `count` have arrived.
async fn read_events(res: reqwest::Response, count: usize) -> Vec<(String, Value)> {
    read_events_until(res, |events| events.len() >= count).await
}

/// Reads SSE events until `done` says the events so far are enough.
async fn read_events_until(
    res: reqwest::Response,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let mut stream = res.bytes_stream();
    let mut buf = String::new();
    let mut out = Vec::new();
    while !done(&out) {
        let chunk = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("chunk");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if !name.is_empty() {
                out.push((name, serde_json::from_str(&data).expect("json data")));
            }
        }
    }
    out
}

#[tokio::test]
async fn server_sent_events() {
    let mock = start().await;
    let res = http()
        .get(format!("{}/events", mock.url()))
        .send()
        .await
        .expect("sse");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    post(&mock, "/run", plan("sse1")).await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    c.claim(&q, 1, &["*"]).await;
    let (j, _) = c.join("run:sse1", json!({"token": "x.y.z"})).await;
    c.call(
        Some(&j),
        "run:sse1",
        "run:start",
        json!({"timestamp": "123"}),
    )
    .await;
    let events = read_events(res, 2).await;
    assert_eq!(
        events[0],
        (
            "claim".to_owned(),
            json!({"payload": [{"id": "sse1", "token": "x.y.z"}]})
        )
    );
    assert_eq!(
        events[1],
        (
            "run:start".to_owned(),
            json!({"runId": "sse1", "payload": {"timestamp": "123"}})
        )
    );
    // Open event streams and sockets don't hold up shutdown.
    let _open = http()
        .get(format!("{}/events?all=true", mock.url()))
        .send()
        .await
        .expect("sse");
    tokio::time::timeout(WAIT, mock.shutdown())
        .await
        .expect("shutdown completes");
    assert!(
        matches!(c.recv().await, Some(Incoming::Close(Some((1001, _))))),
        "sockets closed with going-away"
    );
}

/// Claims that gave no run (a worker polling an empty queue) are not sent by default, with or
/// without `all=true`; `empty_claims=true` sends them too.
#[tokio::test]
async fn empty_claims_are_left_out_of_events_unless_asked() {
    let mock = start().await;
    let open = |query: &'static str| {
        let url = format!("{}/events{query}", mock.url());
        async move { http().get(url).send().await.expect("sse") }
    };
    let default = open("").await;
    let all = open("?all=true").await;
    let with_empty = open("?empty_claims=true").await;
    let mut c = Client::connect(&mock, "token=t").await;
    let q = c.join_queue().await;
    assert!(c.claim(&q, 1, &["*"]).await.is_empty());
    assert!(c.claim(&q, 1, &["*"]).await.is_empty());
    post(&mock, "/run", plan("gave-run")).await;
    assert_eq!(c.claim(&q, 1, &["*"]).await.len(), 1);
    let claims = |events: Vec<(String, Value)>| -> Vec<usize> {
        events
            .into_iter()
            .filter(|(name, _)| name == "claim")
            .map(|(_, data)| data["payload"].as_array().map_or(0, Vec::len))
            .collect()
    };
    assert_eq!(claims(read_events(default, 1).await), [1]);
    assert_eq!(claims(read_events(with_empty, 3).await), [0, 0, 1]);
    // `all` adds dashboard events (connect, join, enqueue) but no empty claims: the claim
    // that gave a run is the first claim it sends.
    let events = read_events_until(all, |events| events.iter().any(|(n, _)| n == "claim")).await;
    assert!(
        events.iter().any(|(n, _)| n == "run:enqueued"),
        "{events:?}"
    );
    let first_claim = events
        .iter()
        .find(|(n, _)| n == "claim")
        .map(|(_, d)| d.clone());
    assert_eq!(
        first_claim,
        Some(json!({"payload": [{"id": "gave-run", "token": "x.y.z"}]}))
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn collections_api() {
    let mock = start().await;
    let base = format!("{}/collections/stuff", mock.url());
    let h = http();
    let res = h.get(&base).bearer_auth("tok").send().await.expect("get");
    assert_eq!(res.status().as_u16(), 404, "unknown collection");
    let res = h.get(&base).send().await.expect("get");
    assert_eq!(res.status().as_u16(), 401, "no bearer");

    upsert_items(&h, &base).await;
    get_one_item(&h, &base).await;

    // Pattern + paging with a cursor.
    let page = authed_json(h.get(format!("{base}?key=a-*&limit=2"))).await;
    assert_eq!(keys(&page), ["a-0", "a-1"]);
    let cursor = page["cursor"].as_str().expect("cursor").to_owned();
    let page = authed_json(h.get(format!("{base}?key=a-*&limit=10&cursor={cursor}"))).await;
    assert_eq!(keys(&page), ["a-2", "a-3", "a-4"]);
    assert_eq!(page["cursor"], Value::Null);

    let res = authed_json(h.delete(format!("{base}/a-0"))).await;
    assert_eq!(res, json!({"key": "a-0", "deleted": 1, "error": null}));
    let res = authed_json(h.delete(format!("{base}?key=a-*"))).await;
    assert_eq!(res, json!({"key": "a-*", "deleted": 4, "error": null}));
    let page = authed_json(h.get(&base)).await;
    assert_eq!(keys(&page), ["b-1"]);
    mock.shutdown().await;
}

/// Sends a collections request with the bearer token; the JSON it answers.
async fn authed_json(request: reqwest::RequestBuilder) -> Value {
    request
        .bearer_auth("tok")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

/// The keys of a page of items.
fn keys(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|i| {
            i.iter()
                .map(|x| x["key"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `a-0`…`a-4` upserted in one `POST`, `b-1` with a `PUT`; a `PUT` without a value is 422.
async fn upsert_items(h: &reqwest::Client, base: &str) {
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"key": format!("a-{i}"), "value": format!("{{\"n\":{i}}}")}))
        .collect();
    let res = authed_json(h.post(base).json(&json!({"items": items}))).await;
    assert_eq!(res, json!({"upserted": 5, "error": null}));
    let res = authed_json(h.put(format!("{base}/b-1")).json(&json!({"value": "bee"}))).await;
    assert_eq!(res, json!({"upserted": 1, "error": null}));
    let res = h
        .put(format!("{base}/b-2"))
        .bearer_auth("tok")
        .json(&json!({}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status().as_u16(), 422);
}

/// One item by key, with its timestamps; an unknown key is 204.
async fn get_one_item(h: &reqwest::Client, base: &str) {
    let item = authed_json(h.get(format!("{base}/b-1"))).await;
    assert_eq!(
        (item["key"].clone(), item["value"].clone()),
        (json!("b-1"), json!("bee"))
    );
    assert!(item["created"].is_string() && item["updated"].is_string());
    let res = h
        .get(format!("{base}/zzz"))
        .bearer_auth("tok")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status().as_u16(), 204);
}

#[tokio::test]
async fn fault_injection() {
    let mock = start().await;
    let mut c = Client::connect(&mock, "token=t").await;

    // Delayed replies.
    let (status, faults) = post(&mock, "/faults", json!({"reply_delay_ms": 300})).await;
    assert_eq!(
        (status, faults["reply_delay_ms"].clone()),
        (200, json!(300))
    );
    let started = Instant::now();
    c.call(None, "phoenix", "heartbeat", json!({})).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "reply was delayed"
    );
    post(&mock, "/faults", json!({"reply_delay_ms": 0})).await;

    // An event rejected N times, then handled.
    post(&mock, "/faults", json!({"reject": {"heartbeat": 2}})).await;
    assert_eq!(
        get(&mock, "/faults").await.1["reject"],
        json!({"heartbeat": 2})
    );
    for _ in 0..2 {
        let reply = c.call(None, "phoenix", "heartbeat", json!({})).await;
        assert_eq!(
            reply,
            json!({"status": "error", "response": {"errors": {"fault": ["injected fault: heartbeat rejected"]}}})
        );
    }
    assert_eq!(
        c.call(None, "phoenix", "heartbeat", json!({})).await["status"],
        "ok"
    );

    // Drop the socket after N messages: the N-th is still answered, then the TCP connection
    // goes without a close frame.
    post(&mock, "/faults", json!({"drop_after": 2})).await;
    c.call(None, "phoenix", "heartbeat", json!({})).await;
    c.call(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(c.recv().await, None, "dropped without a close frame");

    // Refused connections for a while, then accepted again.
    post(&mock, "/faults", json!({"refuse_connections_ms": 400})).await;
    match Client::try_connect(&mock, "token=t").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    let mut back =
        common::eventually(async || Client::try_connect(&mock, "token=t").await.ok()).await;
    assert_eq!(
        back.call(None, "phoenix", "heartbeat", json!({})).await["status"],
        "ok"
    );

    let (status, _) = post(&mock, "/faults", json!({"nonsense": 1})).await;
    assert_eq!(status, 400);
    let cleared: Value = http()
        .delete(format!("{}/faults", mock.url()))
        .send()
        .await
        .expect("delete")
        .json()
        .await
        .expect("json");
    assert_eq!(cleared["reject"], json!({}));
    mock.shutdown().await;
}

#[tokio::test]
async fn faults_from_config_apply_at_start() {
    let mock = common::start_with(openfn_lightning_mock::Config {
        faults: openfn_lightning_mock::Faults {
            reject: [("phx_join".to_owned(), 1)].into(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut c = Client::connect(&mock, "token=t").await;
    let (_, reply) = c.join("worker:queue", json!({})).await;
    assert_eq!(reply["status"], "error");
    let (_, reply) = c.join("worker:queue", json!({})).await;
    assert_eq!(reply["status"], "ok");
    mock.shutdown().await;
}
