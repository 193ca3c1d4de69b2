//! The Lightning plans the end-to-end scenarios enqueue, and the final `data` each must leave,
//! written by hand from the kit's documented semantics (docs/execution.md), never computed by
//! our own code.

use serde_json::{Value, json};

use crate::parity::adaptor_versions;

/// The adaptor the real-adaptor scenarios install from the npm registry (pinned in
/// tests/adaptor-versions; the expectations below were recorded with it).
pub fn common() -> String {
    adaptor_versions::spec(adaptor_versions::COMMON)
}

/// A job in Lightning's shape.
pub fn job(id: &str, adaptor: &str, body: &str) -> Value {
    json!({"id": id, "name": id, "adaptor": adaptor, "body": body, "credential_id": null})
}

/// An edge from a job (`condition`: `always`, `on_job_success`, `on_job_failure` or a JS
/// expression).
pub fn edge(from: &str, to: &str, condition: &str) -> Value {
    json!({"id": format!("{from}-{to}"), "source_job_id": from, "target_job_id": to,
           "condition": condition, "enabled": true})
}

/// A plan whose trigger starts `first`, with `jobs` and the job-to-job `edges`.
pub fn workflow(first: &str, jobs: Vec<Value>, mut edges: Vec<Value>) -> Value {
    edges.insert(
        0,
        json!({"id": "t-first", "source_trigger_id": "t", "target_job_id": first,
               "condition": "always", "enabled": true}),
    );
    json!({
        "triggers": [{"id": "t"}],
        "jobs": jobs,
        "edges": edges,
        "starting_node_id": "t",
        "dataclip_id": null,
        "options": {}
    })
}

/// One job on the real language-common: `fn` and `each` over a JSONPath.
pub const HAPPY_JOB: &str = "fn(state => ({ ...state, data: { items: [1, 2, 3] } }));\n\
each('$.data.items[*]', fn(state => { state.total = (state.total || 0) + state.data; return state; }));\n\
fn(state => ({ data: { total: state.total, last: state.data } }));\n";

/// What [`HAPPY_JOB`] leaves, as the kit CLI 1.36.0 printed it with language-common 3.3.4:
/// 1 + 2 + 3, and `each` leaves the last item in `state.data`.
pub fn happy_data() -> Value {
    json!({"total": 6, "last": 3})
}

/// The edges workflow: `a` succeeds; `b` follows on success, `c` would follow on failure;
/// `d` follows `b` when `state.data.go`, `e` when it is false.
pub fn edges_workflow() -> Value {
    let step = |name: &str| {
        format!(
            "fn(state => ({{ data: {{ ...state.data, path: [...(state.data.path || []), '{name}'] }} }}));"
        )
    };
    workflow(
        "a",
        vec![
            job(
                "a",
                &common(),
                "fn(state => ({ data: { go: true, path: ['a'] } }));",
            ),
            job("b", &common(), &step("b")),
            job("c", &common(), &step("c")),
            job("d", &common(), &step("d")),
            job("e", &common(), &step("e")),
        ],
        vec![
            edge("a", "b", "on_job_success"),
            edge("a", "c", "on_job_failure"),
            edge("b", "d", "state.data.go === true"),
            edge("b", "e", "state.data.go === false"),
        ],
    )
}

/// What [`edges_workflow`] leaves: only `a`, `b` and `d` ran.
pub fn edges_data() -> Value {
    json!({"go": true, "path": ["a", "b", "d"]})
}

/// A plain JavaScript one-step plan (no adaptor: nothing to install).
pub fn js(body: &str) -> Value {
    workflow("j", vec![job("j", "", body)], vec![])
}
