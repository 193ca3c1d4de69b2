//! Property tests: the frame codec never panics on arbitrary input, and encode→decode is the
//! identity for every frame it can encode.

use openfn_lexicon::phoenix::{BinaryKind, Frame, Payload};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn short() -> impl Strategy<Value = String> {
    // Strings of at most 255 bytes: 60 chars of up to 4 bytes each.
    ".{0,60}"
}

fn some_ref() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{1,20}")
}

proptest! {
    #[test]
    fn decode_text_never_panics(text in ".*") {
        let _ = Frame::decode_text(&text);
    }

    #[test]
    fn decode_text_never_panics_on_near_frames(
        parts in prop::collection::vec(json_value(), 0..7)
    ) {
        let text = Value::Array(parts).to_string();
        if let Ok(frame) = Frame::decode_text(&text) {
            let _ = frame.json_payload();
            let _ = frame.into_reply().map(|r| (r.dataclip().is_ok(), r.response_text()));
        }
    }

    #[test]
    fn decode_binary_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Frame::decode_binary(&bytes);
        let _ = Frame::decode_client_binary(&bytes);
        if let Ok(frame) = Frame::decode_binary(&bytes) {
            let _ = frame.into_reply().map(|r| r.dataclip().is_ok());
        }
    }

    #[test]
    fn text_round_trip(
        join_ref in prop::option::of(".{0,20}"),
        r#ref in prop::option::of(".{0,20}"),
        topic in ".{0,30}",
        event in ".{0,30}",
        payload in json_value(),
    ) {
        let frame = Frame { join_ref, r#ref, topic, event, payload: Payload::Json(payload) };
        let text = frame.encode_text().unwrap();
        prop_assert_eq!(Frame::decode_text(&text).unwrap(), frame);
    }

    #[test]
    fn binary_reply_round_trip(
        join_ref in some_ref(),
        r#ref in ".{1,20}",
        topic in short(),
        status in short(),
        response in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let frame = Frame::binary_reply(join_ref.as_deref(), &r#ref, topic, &status, response);
        let bytes = frame.encode_binary(BinaryKind::Reply).unwrap();
        prop_assert_eq!(Frame::decode_binary(&bytes).unwrap(), frame);
    }

    #[test]
    fn binary_push_round_trip(
        join_ref in some_ref(),
        r#ref in some_ref(),
        topic in short(),
        event in short(),
        body in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let server = Frame { join_ref, r#ref: None, topic, event, payload: Payload::Binary(body) };
        let bytes = server.encode_binary(BinaryKind::Push).unwrap();
        prop_assert_eq!(Frame::decode_binary(&bytes).unwrap(), server.clone());

        let client = Frame { r#ref, ..server.clone() };
        let bytes = client.encode_client_binary().unwrap();
        prop_assert_eq!(Frame::decode_client_binary(&bytes).unwrap(), client);

        let broadcast = Frame { join_ref: None, ..server };
        let bytes = broadcast.encode_binary(BinaryKind::Broadcast).unwrap();
        prop_assert_eq!(Frame::decode_binary(&bytes).unwrap(), broadcast);
    }
}
