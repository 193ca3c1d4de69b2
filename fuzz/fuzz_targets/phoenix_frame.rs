//! The Phoenix frame decoders (text, server binary, client binary): any bytes decode or fail
//! with a `lexicon::Error`; whatever decodes re-encodes and decodes to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfn_lexicon::phoenix::{BinaryKind, Frame, Payload};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(frame) = Frame::decode_text(text)
    {
        let again = frame.encode_text().expect("a decoded text frame re-encodes");
        let back = Frame::decode_text(&again).expect("a re-encoded text frame decodes");
        assert_eq!(back, frame);
        let _ = frame.is_reply();
        let _ = frame.clone().into_reply();
    }
    if let Ok(frame) = Frame::decode_binary(data) {
        let kind = match &frame.payload {
            Payload::BinaryReply { .. } => Some(BinaryKind::Reply),
            _ => None,
        };
        if let Some(kind) = kind {
            let _ = frame.encode_binary(kind);
        }
        if let Ok(reply) = frame.into_reply() {
            let _ = reply.bytes();
            let _ = reply.reason();
            let _ = reply.response_text();
        }
    }
    if let Ok(frame) = Frame::decode_client_binary(data)
        && let Ok(again) = frame.encode_client_binary()
    {
        let back = Frame::decode_client_binary(&again).expect("re-encoded client frame decodes");
        assert_eq!(back, frame);
    }
});
