//! The dashboard at `/`: one static page (no build step, no external assets) carrying the
//! current state and the recent events as JSON, rendered by a small script that re-renders
//! on every event from `GET /events?all=true`.

use serde_json::json;

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
