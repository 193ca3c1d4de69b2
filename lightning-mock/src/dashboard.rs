//! The dashboard at `/`: one static page (no build step, no external assets) carrying the
//! current state and the recent events as JSON, rendered by a small script that re-renders
//! on every event from `GET /events?all=true`.

use serde_json::{Value, json};

use crate::state::App;

const PAGE: &str = include_str!("dashboard.html");

/// The dashboard lists this many of the newest runs (keep in step with `dashboard.html`).
const SHOWN_RUNS: usize = 200;

/// The page with the current queue, workers, runs and recent events embedded.
pub(crate) fn render(app: &App) -> String {
    let runs = app.runs_filtered(None, Some(SHOWN_RUNS));
    let workers = app.workers_view();
    let queued = app.queue_len();
    let summary = format!(
        "{queued} queued, {} workers connected",
        workers.as_array().map_or(0, Vec::len)
    );
    // `<` never occurs outside JSON strings, so escaping it keeps `</script>` out of the page.
    let initial = json!({
        "runs": runs,
        "workers": workers,
        "queued": queued,
        "events": app.history.to_json(),
    })
    .to_string()
    .replace('<', "\\u003c");
    PAGE.replacen("{{SUMMARY}}", &summary, 1)
        .replacen("{{INITIAL}}", &initial, 1)
}

/// A plan's shape for drawing: `{"nodes": [{"id", "name", "kind": "trigger"|"job"}],
/// "edges": [{"source", "target", "condition", "enabled"}]}` (shown as `workflow` in run
/// views).
pub(crate) fn workflow_of(plan: &Value) -> Value {
    let list = |key: &str| plan.get(key).and_then(Value::as_array).cloned();
    let mut nodes = Vec::new();
    for (key, kind) in [("triggers", "trigger"), ("jobs", "job")] {
        for node in list(key).unwrap_or_default() {
            let Some(id) = node.get("id").and_then(Value::as_str) else {
                continue;
            };
            let name = node
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| node.get("type").and_then(Value::as_str))
                .unwrap_or(id);
            nodes.push(json!({"id": id, "name": name, "kind": kind}));
        }
    }
    let edges: Vec<Value> = list("edges")
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let source = e
                .get("source_trigger_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| e.get("source_job_id").and_then(Value::as_str))?;
            let target = e.get("target_job_id").and_then(Value::as_str)?;
            Some(json!({
                "source": source,
                "target": target,
                "condition": e.get("condition").cloned().unwrap_or(Value::Null),
                "enabled": e.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            }))
        })
        .collect();
    json!({"nodes": nodes, "edges": edges})
}
