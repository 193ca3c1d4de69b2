//! The state serialiser (`openfn_lexicon::deep_json`), with serde_json as the oracle: whatever
//! serde_json accepts, `parse` gives the same value and `to_string` the same text; `pretty`
//! and `object_entries` keep the value; nothing panics on any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openfn_lexicon::deep_json;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = deep_json::parse(text);
    let valid = deep_json::validate(text).is_ok();
    // Syntax alone is checked by `validate`; `parse` also refuses numbers out of f64's range
    // (`1e999`), as serde_json does (the first find).
    assert!(ours.is_err() || valid, "parse accepts what validate refuses: {text:?}");
    if let Ok(theirs) = serde_json::from_str::<Value>(text) {
        let ours = ours.expect("deep_json parses what serde_json parses");
        assert_eq!(ours, theirs);
        assert_eq!(deep_json::to_string(&ours), theirs.to_string());
        let pretty = deep_json::pretty(text).expect("valid JSON pretty-prints");
        let back: Value = serde_json::from_str(&pretty).expect("pretty output is JSON");
        assert_eq!(back, theirs);
        if let Some(entries) = deep_json::object_entries(text).expect("valid JSON") {
            let rebuilt =
                deep_json::object_text(entries.iter().map(|(k, v)| (k.as_str(), v.get())));
            let rebuilt: Value = serde_json::from_str(&rebuilt).expect("rebuilt object is JSON");
            assert_eq!(rebuilt, theirs);
        }
        deep_json::drop_value(ours);
    } else {
        let _ = deep_json::pretty(text);
        let _ = deep_json::object_entries(text);
        let _ = deep_json::with_step_error(Some(text), "step", &Value::Null);
    }
});
