//! Bad input on the socket: malformed frames and oversized messages close that socket with a
//! clear code and reason, while the server keeps serving other sockets.

mod common;

use common::{Client, Incoming, start, start_with};
use openfn_lightning_mock::Config;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

async fn still_serving(c: &mut Client) {
    let reply = c.call(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(reply, json!({"status": "ok", "response": {}}));
}

async fn expect_close(c: &mut Client, code: u16, reason_part: &str) {
    loop {
        match c.recv().await {
            Some(Incoming::Close(Some((got, reason)))) => {
                assert_eq!(got, code, "close code ({reason})");
                assert!(
                    reason.contains(reason_part),
                    "reason {reason:?} mentions {reason_part:?}"
                );
                return;
            }
            Some(Incoming::Close(None)) | None => panic!("closed without a close frame"),
            Some(_) => {}
        }
    }
}

#[tokio::test]
async fn malformed_frames_close_only_that_socket() {
    let mock = start().await;
    let mut good = Client::connect(&mock, "token=t").await;
    for bad in [
        "not json",
        "{\"topic\": \"phoenix\"}",
        "[null, \"1\", \"phoenix\"]",
        "[null, 1, \"phoenix\", \"heartbeat\", {}]",
    ] {
        let mut c = Client::connect(&mock, "token=t").await;
        c.send_raw(Message::Text(bad.into())).await;
        expect_close(&mut c, 1007, "malformed frame").await;
        still_serving(&mut good).await;
    }
    let mut c = Client::connect(&mock, "token=t").await;
    c.send_raw(Message::Binary(vec![9, 9, 9].into())).await;
    expect_close(&mut c, 1007, "malformed binary frame").await;
    still_serving(&mut good).await;
    mock.shutdown().await;
}

#[tokio::test]
async fn client_binary_pushes_are_understood() {
    let mock = start().await;
    let mut c = Client::connect(&mock, "token=t").await;
    // kind 0 push: join_ref, ref, topic, event lengths, then the strings and a JSON body.
    let (join_ref, r, topic, event, body) = ("", "5", "phoenix", "heartbeat", b"{}");
    let mut frame = vec![0u8, 0, 1, 7, 9];
    frame.extend_from_slice(join_ref.as_bytes());
    frame.extend_from_slice(r.as_bytes());
    frame.extend_from_slice(topic.as_bytes());
    frame.extend_from_slice(event.as_bytes());
    frame.extend_from_slice(body);
    c.send_raw(Message::Binary(frame.into())).await;
    let Incoming::Text(reply) = c.reply_to("5").await else {
        panic!("text reply");
    };
    assert_eq!(reply[4], json!({"status": "ok", "response": {}}));
    mock.shutdown().await;
}

#[tokio::test]
async fn oversized_messages_close_with_1009_and_others_continue() {
    let mock = start_with(Config {
        max_frame_size: 64 * 1024,
        ..Config::default()
    })
    .await;
    let mut good = Client::connect(&mock, "token=t").await;
    let mut big = Client::connect(&mock, "token=t").await;
    let (j, _) = big.join("worker:queue", json!({})).await;
    let huge = "x".repeat(200 * 1024);
    big.send_frame(json!([j, "2", "worker:queue", "claim", {"demand": 1, "pad": huge}]))
        .await;
    expect_close(&mut big, 1009, "").await;
    still_serving(&mut good).await;
    // Just under the limit is fine.
    let (j, _) = good.join("worker:queue", json!({})).await;
    let ok = good
        .call(
            Some(&j),
            "worker:queue",
            "claim",
            json!({"demand": 1, "pad": "y".repeat(60 * 1024)}),
        )
        .await;
    assert_eq!(ok["status"], "ok");
    mock.shutdown().await;
}

#[tokio::test]
async fn silent_sockets_are_closed_heartbeating_ones_kept() {
    let mock = start_with(Config {
        idle_timeout: Some(std::time::Duration::from_millis(300)),
        ..Config::default()
    })
    .await;
    let mut silent = Client::connect(&mock, "token=t").await;
    let mut beating = Client::connect(&mock, "token=t").await;
    // Heartbeats every 100 ms for well over the idle timeout keep the other socket open.
    let heartbeats = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        for _ in 0..8 {
            tick.tick().await;
            still_serving(&mut beating).await;
        }
    });
    let started = std::time::Instant::now();
    expect_close(&mut silent, 1000, "idle timeout").await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    heartbeats
        .await
        .expect("the heartbeating socket stayed open");
    mock.shutdown().await;
}

#[tokio::test]
async fn kit_quirks_mode_speaks_like_the_kit_mock() {
    let mock = start_with(Config {
        kit_quirks: true,
        ..Config::default()
    })
    .await;
    let mut c = Client::connect(&mock, "token=t").await;
    c.send_frame(json!(["1", "1", "worker:queue", "phx_join", {}]))
        .await;
    let Some(Incoming::Text(join)) = c.recv().await else {
        panic!("join reply");
    };
    assert_eq!(
        join,
        json!(["1", "1", "worker:queue", "chan_reply_1", {"status": "ok", "response": "ok"}])
    );
    mock.enqueue_run(common::plan("q1")).expect("enqueue");
    let push = c.push("work-available").await;
    assert_eq!(
        push,
        json!([null, "", "worker:queue", "work-available", "{}"])
    );
    c.send_frame(json!(["1", "2", "worker:queue", "claim", {"demand": 1}]))
        .await;
    let Some(Incoming::Text(claim)) = c.recv().await else {
        panic!("claim reply");
    };
    assert_eq!(claim[3], "chan_reply_2");
    assert_eq!(claim[4]["response"]["runs"][0]["id"], "q1");
    c.send_frame(json!(["3", "3", "run:q1", "phx_join", {"token": "x.y.z"}]))
        .await;
    c.recv().await;
    c.send_frame(json!(["3", "4", "run:q1", "fetch:dataclip", {"id": "d"}]))
        .await;
    let Some(Incoming::Text(clip)) = c.recv().await else {
        panic!("dataclip reply as text");
    };
    assert_eq!(clip[3], "chan_reply_4");
    let bytes: Vec<u8> = clip[4]["response"]
        .as_array()
        .expect("byte array")
        .iter()
        .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect();
    assert_eq!(bytes, br#"{"data":{}}"#);
    c.send_frame(json!(["3", "5", "run:q1", "run:start", {}]))
        .await;
    let Some(Incoming::Text(start)) = c.recv().await else {
        panic!("run:start reply");
    };
    assert_eq!(start[4], json!({"status": "ok"}), "no response key");
    c.send_frame(json!([null, "6", "phoenix", "heartbeat", {}]))
        .await;
    // The mock handles a connection's frames in order: the next thing it sends answers the
    // request after the heartbeat, so the heartbeat went unanswered.
    c.send_frame(json!(["3", "7", "run:q1", "fetch:dataclip", {"id": "d"}]))
        .await;
    let Some(Incoming::Text(next)) = c.recv().await else {
        panic!("a reply");
    };
    assert_eq!(next[3], "chan_reply_7", "heartbeats unanswered: {next}");
    mock.shutdown().await;
}
