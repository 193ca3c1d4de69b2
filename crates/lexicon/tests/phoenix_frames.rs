//! Phoenix frame codec: the exact frames of docs/protocol.md §1, the mock quirks, and bad input.

use openfn_lexicon::Error;
use openfn_lexicon::phoenix::{
    BinaryKind, Frame, Payload, Reply, ReplyStatus, Response, byte_array,
};
use serde_json::{Value, json};

fn reply_of(text: &str) -> Reply {
    Frame::decode_text(text)
        .expect("frame decodes")
        .into_reply()
        .expect("frame is a reply")
}

#[test]
fn decodes_and_reencodes_the_spec_text_frames() {
    let cases = [
        r#"["6","7","run:abc","step:start",{"step_id":"s","job_id":"j"}]"#,
        r#"["6","6","worker:queue","phx_join",{"capacity":5,"queues":{"manual>*":5}}]"#,
        r#"[null,"12","phoenix","heartbeat",{}]"#,
        r#"["6","7","worker:queue","phx_reply",{"status":"ok","response":{"runs":[]}}]"#,
        r#"["6",null,"worker:queue","work-available",{}]"#,
        r#"[null,"","worker:queue","work-available","{}"]"#,
        r#"["6","7","worker:queue","chan_reply_7",{"status":"ok","response":"ok"}]"#,
    ];
    for text in cases {
        let frame = Frame::decode_text(text).expect(text);
        assert_eq!(frame.encode_text().expect("encodes"), text);
    }
}

#[test]
fn fields_of_a_push() {
    let frame = Frame::decode_text(r#"["6","7","run:abc","step:start",{"a":1}]"#).unwrap();
    assert_eq!(frame.join_ref.as_deref(), Some("6"));
    assert_eq!(frame.r#ref.as_deref(), Some("7"));
    assert_eq!(frame.topic, "run:abc");
    assert_eq!(frame.event, "step:start");
    assert_eq!(frame.payload, Payload::Json(json!({"a": 1})));
    assert!(!frame.is_reply());
}

#[test]
fn constructors_build_the_spec_frames() {
    assert_eq!(
        Frame::heartbeat("3").encode_text().unwrap(),
        r#"[null,"3","phoenix","heartbeat",{}]"#
    );
    assert_eq!(
        Frame::join("6", "run:abc", json!({"token": "t"}))
            .encode_text()
            .unwrap(),
        r#"["6","6","run:abc","phx_join",{"token":"t"}]"#
    );
    assert_eq!(
        Frame::leave("6", "9", "run:abc").encode_text().unwrap(),
        r#"["6","9","run:abc","phx_leave",{}]"#
    );
    assert_eq!(
        Frame::reply(
            Some("6"),
            "7",
            "worker:queue",
            "ok",
            Some(json!({"runs": []}))
        )
        .encode_text()
        .unwrap(),
        r#"["6","7","worker:queue","phx_reply",{"status":"ok","response":{"runs":[]}}]"#
    );
    assert_eq!(
        Frame::mock_reply(Some("6"), "7", "worker:queue", "ok", Some(json!("ok")))
            .encode_text()
            .unwrap(),
        r#"["6","7","worker:queue","chan_reply_7",{"status":"ok","response":"ok"}]"#
    );
    assert_eq!(
        Frame::mock_reply(Some("6"), "8", "run:a", "ok", None)
            .encode_text()
            .unwrap(),
        r#"["6","8","run:a","chan_reply_8",{"status":"ok"}]"#
    );
    assert_eq!(
        Frame::mock_push("worker:queue", "work-available", &json!({}))
            .encode_text()
            .unwrap(),
        r#"[null,"","worker:queue","work-available","{}"]"#
    );
}

#[test]
fn replies_in_every_form_correlate_by_ref() {
    let real = reply_of(r#"["6","7","worker:queue","phx_reply",{"status":"ok","response":{}}]"#);
    assert_eq!(real.r#ref, "7");
    assert!(real.is_ok());
    assert_eq!(real.json(), Some(&json!({})));

    let mock =
        reply_of(r#"["6","7","worker:queue","chan_reply_7",{"status":"ok","response":"ok"}]"#);
    assert_eq!(mock.r#ref, "7");
    assert_eq!(mock.join_ref.as_deref(), Some("6"));
    assert_eq!(mock.json(), Some(&json!("ok")));

    let bare = reply_of(r#"["6","8","run:a","chan_reply_8",{"status":"ok"}]"#);
    assert_eq!(bare.response, Response::Absent);
    assert_eq!(bare.clone().into_json().unwrap(), Value::Null);

    // A mock reply whose ref field is missing still correlates through its event name.
    let no_ref =
        reply_of(r#"["6",null,"run:a","chan_reply_42",{"status":"error","response":"not_found"}]"#);
    assert_eq!(no_ref.r#ref, "42");
    assert_eq!(no_ref.status, ReplyStatus::Error);
    assert_eq!(no_ref.response_text(), "not_found");

    let errors = reply_of(
        r#"["6","9","run:a","phx_reply",{"status":"error","response":{"errors":{"id":["Credential not found!"]}}}]"#,
    );
    assert!(!errors.is_ok());
    assert_eq!(
        errors.response_text(),
        r#"{"errors":{"id":["Credential not found!"]}}"#
    );
}

#[test]
fn string_payloads_are_parsed_leniently() {
    let frame = Frame::decode_text(r#"[null,"","worker:queue","work-available","{}"]"#).unwrap();
    assert_eq!(frame.json_payload().unwrap().into_owned(), json!({}));
    let plain = Frame::new("t", "e", json!("not json"));
    assert_eq!(
        plain.json_payload().unwrap().into_owned(),
        json!("not json")
    );
    let object = Frame::new("t", "e", json!({"a": [1]}));
    assert_eq!(
        object.json_payload().unwrap().into_owned(),
        json!({"a": [1]})
    );
}

#[test]
fn binary_reply_matches_the_documented_layout() {
    let body = br#"{"data":{"x":1}}"#.to_vec();
    let frame = Frame::binary_reply(Some("6"), "10", "run:abc", "ok", body.clone());
    let bytes = frame.encode_binary(BinaryKind::Reply).unwrap();
    let mut expected = vec![1u8, 1, 2, 7, 2];
    expected.extend_from_slice(b"610run:abcok");
    expected.extend_from_slice(&body);
    assert_eq!(bytes, expected);

    let decoded = Frame::decode_binary(&bytes).unwrap();
    assert_eq!(decoded, frame);
    let reply = decoded.into_reply().unwrap();
    assert_eq!(reply.r#ref, "10");
    assert!(reply.is_ok());
    assert_eq!(reply.dataclip().unwrap(), json!({"data": {"x": 1}}));
}

#[test]
fn mock_number_array_dataclip_reads_like_the_binary_one() {
    let body = br#"{"data":{}}"#;
    let frame = Frame::mock_reply(Some("6"), "10", "run:abc", "ok", Some(byte_array(body)));
    let text = frame.encode_text().unwrap();
    assert!(
        text.contains(r#""response":[123,34,100,97,116,97,34"#),
        "{text}"
    );
    let reply = reply_of(&text);
    assert_eq!(reply.bytes().unwrap().as_ref(), body);
    assert_eq!(reply.dataclip().unwrap(), json!({"data": {}}));
}

#[test]
fn literal_null_dataclip() {
    let frame = Frame::binary_reply(None, "1", "run:a", "ok", b"null".to_vec());
    let bytes = frame.encode_binary(BinaryKind::Reply).unwrap();
    let reply = Frame::decode_binary(&bytes).unwrap().into_reply().unwrap();
    assert_eq!(reply.dataclip().unwrap(), Value::Null);
    assert_eq!(reply.join_ref, None);
}

#[test]
fn binary_push_and_broadcast_layouts() {
    let push = Frame::new("worker:queue", "work-available", json!({})).with_refs(Some("6"), None);
    let bytes = push.encode_binary(BinaryKind::Push).unwrap();
    let mut expected = vec![0u8, 1, 12, 14];
    expected.extend_from_slice(b"6worker:queuework-available{}");
    assert_eq!(bytes, expected);
    let decoded = Frame::decode_binary(&bytes).unwrap();
    assert_eq!(decoded.join_ref.as_deref(), Some("6"));
    assert_eq!(decoded.r#ref, None);
    assert_eq!(decoded.payload, Payload::Binary(b"{}".to_vec()));

    let broadcast = Frame {
        join_ref: None,
        r#ref: None,
        topic: "room".into(),
        event: "ev".into(),
        payload: Payload::Binary(vec![0, 255, 7]),
    };
    let bytes = broadcast.encode_binary(BinaryKind::Broadcast).unwrap();
    assert_eq!(
        bytes,
        [2, 4, 2, b'r', b'o', b'o', b'm', b'e', b'v', 0, 255, 7]
    );
    assert_eq!(Frame::decode_binary(&bytes).unwrap(), broadcast);

    let client = Frame {
        join_ref: Some("1".into()),
        r#ref: Some("2".into()),
        topic: "t".into(),
        event: "e".into(),
        payload: Payload::Binary(vec![9]),
    };
    let bytes = client.encode_client_binary().unwrap();
    assert_eq!(bytes, [0, 1, 1, 1, 1, b'1', b'2', b't', b'e', 9]);
    assert_eq!(Frame::decode_client_binary(&bytes).unwrap(), client);
}

#[test]
fn malformed_text_frames_name_the_problem() {
    let err = Frame::decode_text("[1,2").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Json {
                what: "text frame",
                ..
            }
        ),
        "{err}"
    );

    let err = Frame::decode_text(r#"["1","2","t","e"]"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "text frame: expected an array of 5 elements [join_ref, ref, topic, event, payload], found an array of 4 elements"
    );
    let err = Frame::decode_text(r#"{"topic":"t"}"#).unwrap_err();
    assert!(err.to_string().ends_with("found an object"), "{err}");

    let err = Frame::decode_text(r#"[1,"2","t","e",{}]"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame field `join_ref`: expected a string or null, found a number"
    );
    let err = Frame::decode_text(r#"["1",{},"t","e",{}]"#).unwrap_err();
    assert!(err.to_string().contains("`ref`"), "{err}");
    let err = Frame::decode_text(r#"["1","2",null,"e",{}]"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "frame field `topic`: expected a string, found null"
    );
    let err = Frame::decode_text(r#"["1","2","t",5,{}]"#).unwrap_err();
    assert!(err.to_string().contains("`event`"), "{err}");
}

#[test]
fn truncated_and_unknown_binary_frames() {
    let err = Frame::decode_binary(&[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "binary frame truncated: `kind` needs 1 byte(s) but only 0 remain"
    );
    let err = Frame::decode_binary(&[1, 1, 2]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                field: "topic length",
                ..
            }
        ),
        "{err}"
    );
    let err = Frame::decode_binary(&[1, 1, 2, 3, 2, b'6', b'1']).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                field: "ref",
                needed: 2,
                available: 1
            }
        ),
        "{err}"
    );
    let err = Frame::decode_binary(&[7, 0]).unwrap_err();
    assert!(matches!(err, Error::UnknownKind(7)), "{err}");
    let err = Frame::decode_client_binary(&[1, 0, 0, 0, 0]).unwrap_err();
    assert!(matches!(err, Error::UnknownKind(1)), "{err}");
    let err = Frame::decode_binary(&[2, 1, 0, 0xff]).unwrap_err();
    assert!(matches!(err, Error::Utf8 { field: "topic" }), "{err}");
}

#[test]
fn bad_replies_and_unencodable_frames() {
    let err = Frame::new("t", "step:start", json!({}))
        .into_reply()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a reply: event `step:start` on topic `t`"
    );
    let err = Frame::decode_text(r#"["1","2","t","phx_reply",{"response":1}]"#)
        .unwrap()
        .into_reply()
        .unwrap_err();
    assert_eq!(err.to_string(), "reply: missing field `status`");
    let err = Frame::decode_text(r#"["1","2","t","phx_reply",{"status":3}]"#)
        .unwrap()
        .into_reply()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "reply field `status`: expected a string, found a number"
    );
    let err = Frame::decode_text(r#"["1","2","t","phx_reply","ok"]"#)
        .unwrap()
        .into_reply()
        .unwrap_err();
    assert!(err.to_string().contains("`payload`"), "{err}");
    let err = Frame::decode_text(r#"["1",null,"t","phx_reply",{"status":"ok"}]"#)
        .unwrap()
        .into_reply()
        .unwrap_err();
    assert_eq!(err.to_string(), "reply: missing field `ref`");

    let reply = reply_of(r#"["1","2","t","phx_reply",{"status":"ok","response":[1,300]}]"#);
    let err = reply.bytes().unwrap_err();
    assert!(err.to_string().contains("element 1"), "{err}");
    let reply = reply_of(r#"["1","2","t","phx_reply",{"status":"ok","response":{"a":1}}]"#);
    assert!(reply.dataclip().is_err());
    let reply = reply_of(r#"["1","2","t","phx_reply",{"status":"ok"}]"#);
    assert!(matches!(
        reply.bytes(),
        Err(Error::MissingField {
            field: "response",
            ..
        })
    ));
    let reply = reply_of(r#"["1","2","t","phx_reply",{"status":"ok","response":[123]}]"#);
    assert!(matches!(reply.dataclip(), Err(Error::Json { .. })));

    let binary = Frame::binary_reply(None, "1", "t", "ok", vec![1]);
    assert!(matches!(binary.encode_text(), Err(Error::Unencodable(_))));
    assert!(matches!(
        binary.encode_binary(BinaryKind::Push),
        Err(Error::Unencodable(_))
    ));
    let json_reply = Frame::reply(None, "1", "t", "ok", None);
    assert!(matches!(
        json_reply.encode_binary(BinaryKind::Reply),
        Err(Error::Unencodable(_))
    ));
    let long = Frame::new("x".repeat(256), "e", json!({}));
    let err = long.encode_binary(BinaryKind::Broadcast).unwrap_err();
    assert_eq!(
        err.to_string(),
        "binary frame field `topic`: 256 bytes is over the 255-byte limit"
    );
}

#[test]
fn error_reasons_from_lightning_and_the_mock() {
    let lightning = reply_of(
        r#"["1","1","run:a","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#,
    );
    assert_eq!(lightning.reason(), "unauthorized");
    let mock = reply_of(
        r#"["1","1","run:a","chan_reply_1",{"status":"error","response":"invalid_run_id"}]"#,
    );
    assert_eq!(mock.reason(), "invalid_run_id");
    let other = reply_of(
        r#"["1","2","run:a","phx_reply",{"status":"error","response":{"errors":{"id":["x"]}}}]"#,
    );
    assert_eq!(other.reason(), r#"{"errors":{"id":["x"]}}"#);
    let absent = reply_of(r#"["1","3","run:a","phx_reply",{"status":"error"}]"#);
    assert_eq!(absent.reason(), "null");
}
