//! Inputs the `phoenix_frame` fuzz target found (fuzz/, `just fuzz`), kept as regressions.

use openfn_lexicon::phoenix::Frame;

/// A number with more digits than an f64 holds must parse to the nearest f64, so that a frame
/// re-encoded and decoded again is the same frame (serde_json's fast float parsing was off by
/// one ulp here; the `float_roundtrip` feature makes it exact, as `JSON.parse` is).
#[test]
fn long_numbers_round_trip_exactly() {
    let text = r#"["1","3","run:abc","phx_reply",{"response":{"a":10000000000002222288888888888888880000}}]"#;
    let frame = Frame::decode_text(text).expect("decodes");
    let again = frame.encode_text().expect("encodes");
    assert_eq!(Frame::decode_text(&again).expect("decodes again"), frame);
    let n = frame
        .json_payload()
        .and_then(|p| p["response"]["a"].as_f64())
        .expect("a number");
    assert_eq!(
        n,
        "10000000000002222288888888888888880000"
            .parse::<f64>()
            .expect("f64")
    );
}
