//! Benchmark of the lexicon codecs: text frame decode/encode of a `step:complete`, a 1 MB
//! dataclip as a binary reply (Lightning) and as a number array (mock), and the Lightning plan
//! conversion. Prints the median of repeated runs.
//!
//! Run with `cargo run --release -p openfn-lexicon --example bench_codec`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openfn_lexicon::lightning::{ConvertOptions, LightningPlan};
use openfn_lexicon::phoenix::{BinaryKind, Frame, byte_array};
use serde_json::json;

fn median_of(runs: usize, iterations: u32, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn report(name: &str, d: Duration) {
    println!("{name:<48} {:>10.2} µs", d.as_secs_f64() * 1e6);
}

fn main() {
    let step_complete = json!({
        "step_id": "0b3a5a36-2a52-4b8e-9a53-6c1b1d0e8d11", "job_id": "j1",
        "mem": {"job": 1_234_567, "system": 98_765_432}, "duration": 12, "thread_id": 1,
        "timestamp": "1763798400123456", "output_dataclip_id": "5d0a0c7e-1c1c-4b6b-8d6a-2f0f3c8f4a21",
        "output_dataclip": "{\"data\":{\"items\":[1,2,3]}}", "reason": "success",
        "error_type": null, "error_message": null
    });
    let text = Frame::new("run:abc", "step:complete", step_complete)
        .with_refs(Some("6"), Some("42"))
        .encode_text()
        .unwrap_or_default();
    report(
        "text frame decode (step:complete)",
        median_of(15, 2000, || {
            black_box(Frame::decode_text(black_box(&text)).ok());
        }),
    );
    let frame = Frame::decode_text(&text).expect("frame");
    report(
        "text frame encode (step:complete)",
        median_of(15, 2000, || {
            black_box(frame.encode_text().ok());
        }),
    );

    let items: Vec<_> = (0..20_000)
        .map(|i| json!({"id": i, "name": "item name"}))
        .collect();
    let dataclip = json!({"data": {"items": items}}).to_string().into_bytes();
    println!("dataclip size: {} bytes", dataclip.len());
    let binary = Frame::binary_reply(Some("6"), "7", "run:abc", "ok", dataclip.clone())
        .encode_binary(BinaryKind::Reply)
        .unwrap_or_default();
    report(
        "binary dataclip reply: decode + parse",
        median_of(9, 10, || {
            let reply = Frame::decode_binary(black_box(&binary)).and_then(Frame::into_reply);
            black_box(reply.and_then(|r| r.dataclip()).ok());
        }),
    );
    let mock = Frame::mock_reply(Some("6"), "7", "run:abc", "ok", Some(byte_array(&dataclip)))
        .encode_text()
        .unwrap_or_default();
    report(
        "mock number-array dataclip: decode + parse",
        median_of(9, 5, || {
            let reply = Frame::decode_text(black_box(&mock)).and_then(Frame::into_reply);
            black_box(reply.and_then(|r| r.dataclip()).ok());
        }),
    );

    let jobs: Vec<_> = (0..50)
        .map(|i| json!({"id": format!("j{i}"), "name": format!("Job {i}"), "adaptor": "@openfn/language-common@1.6.2", "body": "fn(s => s)", "credential_id": null}))
        .collect();
    let edges: Vec<_> = (0..49)
        .map(|i| json!({"id": format!("e{i}"), "source_trigger_id": null, "source_job_id": format!("j{i}"), "target_job_id": format!("j{}", i + 1), "condition": "on_job_success", "enabled": true}))
        .collect();
    let plan_json = json!({"id": "run", "triggers": [{"id": "t"}], "jobs": jobs, "edges": edges, "starting_node_id": "t", "dataclip_id": null, "options": {"run_timeout_ms": 300000}});
    let plan = LightningPlan::from_value(plan_json.clone()).expect("plan");
    report(
        "lightning plan decode (50 jobs)",
        median_of(15, 200, || {
            black_box(LightningPlan::from_value(black_box(plan_json.clone())).ok());
        }),
    );
    report(
        "lightning plan → execution plan (50 jobs)",
        median_of(15, 200, || {
            black_box(plan.to_execution_plan(&ConvertOptions::default()));
        }),
    );
}
