//! The Lightning plans the scenarios enqueue: one step of plain JavaScript (no adaptor, so
//! nothing is installed), each doing what its scenario needs: a short batch job that logs and
//! waits, a CPU spin, an allocation loop, an infinite loop, a log storm, a big state, a job
//! that measures its input dataclip.

use serde_json::{Value, json};

/// A one-step plan around `body` (an ES module whose default export is the operations).
pub fn plan(body: &str) -> Value {
    json!({
        "triggers": [{"id": "t"}],
        "jobs": [{"id": "j", "name": "chaos", "adaptor": "", "body": body, "credential_id": null}],
        "edges": [{"id": "e", "source_trigger_id": "t", "target_job_id": "j", "condition": "always", "enabled": true}],
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

/// A batch job: logs `logs` lines `wait_ms` apart, then returns `{data: {done: true}}`.
pub fn batch(logs: u32, wait_ms: u32) -> Value {
    plan(&format!(
        "export default [async s => {{\n  for (let i = 0; i < {logs}; i++) {{\n    console.log('tick', i);\n    await new Promise(r => setTimeout(r, {wait_ms}));\n  }}\n  return {{ data: {{ done: true }} }};\n}}]"
    ))
}

/// What a successful [`batch`] run leaves as its final `data`.
pub fn batch_data() -> Value {
    json!({"done": true})
}

/// Spins the CPU for `ms` (long enough to be found and killed).
pub fn spin(ms: u32) -> Value {
    plan(&format!(
        "export default [s => {{ const end = Date.now() + {ms}; while (Date.now() < end) {{}} return {{ data: {{ spun: true }} }}; }}]"
    ))
}

/// Allocates until the run's memory limit stops it.
pub fn allocate() -> Value {
    plan(
        "export default [s => { const keep = []; for (let i = 0; ; i++) { keep.push('x'.repeat(1 << 20) + i); } }]",
    )
}

/// Never returns; killed by the run timeout (`options.run_timeout_ms`).
pub fn infinite_loop(run_timeout_ms: u64) -> Value {
    let mut p = plan("export default [s => { for (;;) {} }]");
    p["options"]["run_timeout_ms"] = json!(run_timeout_ms);
    p
}

/// Logs `lines` lines as fast as it can.
pub fn log_storm(lines: u32) -> Value {
    plan(&format!(
        "export default [s => {{ for (let i = 0; i < {lines}; i++) {{ console.log('storm line', i); }} return {{ data: {{ lines: {lines} }} }}; }}]"
    ))
}

/// Returns a final state whose `data.blob` is `bytes` long.
pub fn big_state(bytes: usize) -> Value {
    plan(&format!(
        "export default [s => ({{ data: {{ blob: 'x'.repeat({bytes}) }} }})]"
    ))
}

/// A dataclip body whose `data.blob` is `bytes` long.
pub fn big_dataclip(bytes: usize) -> Value {
    json!({"data": {"blob": "y".repeat(bytes)}})
}

/// Reads the input dataclip `dataclip_id` and returns the length of its `data.blob`.
pub fn measure_input(dataclip_id: &str) -> Value {
    let mut p = plan("export default [s => ({ data: { len: s.data.blob.length } })]");
    p["dataclip_id"] = json!(dataclip_id);
    p
}
