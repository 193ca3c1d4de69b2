//! A big state through the binary: a 12 MB state crosses three steps and is written whole,
//! laid out as the kit writes it (it was `{"data": "[REDACTED]"}` past the worker's 10 MB
//! payload limit), and `--cache-steps` keeps each step's state as compact JSON, as the kit.

mod common;

use common::{Env, stderr};
use serde_json::{Value, json};

#[test]
fn a_12_mb_state_crosses_three_steps_and_is_written_whole() {
    let env = Env::new();
    let records: Vec<Value> = (0..75_000)
        .map(|i| {
            json!({
                "id": i, "name": format!("patient-{i} é"), "tags": ["a", "b"], "score": i as f64 + 0.5,
                "visit": { "date": "2024-01-01T00:00:00Z", "ok": i % 2 == 0, "notes": "lorem ipsum dolor sit amet" }
            })
        })
        .collect();
    let state = json!({ "data": { "records": records } });
    let state_text = state.to_string();
    assert!(state_text.len() > 11 * 1024 * 1024, "{}", state_text.len());
    std::fs::write(env.path().join("state.json"), &state_text).unwrap();
    let step = |id: &str, next: Option<&str>| {
        let mut s = json!({
            "id": id,
            "expression": format!("export default [(s) => {{ s.data['{id}'] = true; return s; }}];"),
        });
        if let Some(n) = next {
            s["next"] = json!(n);
        }
        s
    };
    let workflow = json!({ "workflow": { "name": "big", "steps": [
        step("a", Some("b")), step("b", Some("c")), step("c", None)
    ] } });
    std::fs::write(env.path().join("workflow.json"), workflow.to_string()).unwrap();
    let out = env
        .openfn()
        .current_dir(env.path())
        .args(["workflow.json", "-s", "state.json", "-o", "out.json"])
        .arg("--cache-steps")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut expected = state.clone();
    for id in ["a", "b", "c"] {
        expected["data"][id] = json!(true);
    }
    let written = std::fs::read_to_string(env.path().join("out.json")).unwrap();
    // `JSON.stringify(state, null, 2)`
    assert!(
        written == serde_json::to_string_pretty(&expected).unwrap(),
        "the output is not the whole state, laid out as the kit does ({} bytes)",
        written.len()
    );
    // the cached states are `JSON.stringify(state)`, byte for byte what the step returned
    let cached = std::fs::read_to_string(env.path().join(".cli-cache/big/b.json")).unwrap();
    let mut after_b = state;
    after_b["data"]["a"] = json!(true);
    after_b["data"]["b"] = json!(true);
    let after_b = after_b.to_string();
    assert!(
        cached == after_b,
        "the cached state of b is not its compact JSON"
    );
}
