//! Each template keeps a spare run forked ahead (past its handshake, blocked on its pipe): a
//! run takes it and a new spare replaces it; the spare is retired with its template; a run
//! that started as a spare times out, runs out of memory, crashes and is killed exactly like
//! any forked run, and nothing is left a zombie. Adaptors' console lines while a template
//! loads them reach the engine's log.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use openfn_engine::{Engine, EngineConfig, TemplateConfig};
use serde_json::json;
use support::*;

/// The spare of the engine's only template once it is ready: (template pid, spare pid).
async fn spare_of(engine: &Engine) -> (u32, u32) {
    let mut found = None;
    let ready = eventually(|| {
        found = engine
            .templates()
            .first()
            .and_then(|t| Some((t.pid, t.spare_pid?)));
        found.is_some()
    })
    .await;
    assert!(ready, "no spare: {:?}", engine.templates());
    found.unwrap_or_default()
}

/// Runs `scripts` linked at `dir` and returns its events and the pid that ran it.
async fn run_linked(
    engine: &Engine,
    id: &str,
    dir: &Path,
    scripts: &[&str],
) -> (Vec<openfn_engine::EngineEvent>, u32) {
    let events = events_within(run(engine, linked_plan(id, dir, scripts)), 60).await;
    let pid = events.iter().find_map(thread_of).expect("a thread id");
    (events, pid)
}

#[tokio::test]
async fn a_spare_is_handed_out_and_replaced() {
    let engine = templated(1);
    let dir = tempfile::tempdir().unwrap();
    // The first run starts the template; it forks its spare at once.
    let (first, _) = run_linked(&engine, "a", dir.path(), &["whoami"]).await;
    assert!(final_state(&first).is_some());
    let (template, spare) = spare_of(&engine).await;
    assert_eq!(
        parent_of(spare),
        Some(template),
        "the spare is a forked run"
    );
    let (second, pid) = run_linked(&engine, "b", dir.path(), &["whoami"]).await;
    assert_eq!(pid, spare, "the run took the spare");
    assert_eq!(data(&second)["pid"], json!(spare));
    // A new spare replaces it; the used one exits and is reaped.
    let (_, next) = spare_of(&engine).await;
    assert!(eventually(|| engine.templates()[0].spare_pid.is_some_and(|p| p != spare)).await);
    assert_ne!(next, 0);
    assert!(eventually(|| parent_of(spare).is_none()).await);
    assert!(eventually(|| zombies_of(template).is_empty()).await);
}

#[tokio::test]
async fn a_spare_is_retired_with_its_template() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        templates: TemplateConfig {
            max_templates: 1,
            ..always()
        },
        ..EngineConfig::default()
    });
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_linked(&engine, "a", a.path(), &["count"]).await;
    let (template, spare) = spare_of(&engine).await;
    // Another set evicts the first template: its spare exits, then the template.
    run_linked(&engine, "b", b.path(), &["count"]).await;
    assert_ne!(engine.templates()[0].pid, template);
    assert!(
        eventually(|| parent_of(spare).is_none()).await,
        "spare gone"
    );
    assert!(
        eventually(|| parent_of(template).is_none()).await,
        "template gone"
    );
    assert!(eventually(|| zombies_of(std::process::id()).is_empty()).await);
}

#[tokio::test]
async fn runs_from_spares_fail_like_any_forked_run() {
    let engine = templated(1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_linked(&engine, "w", d, &["count"]).await;

    let (template, spare) = spare_of(&engine).await;
    let (timeout, pid) = run_linked(&engine, "t", d, &["spin"]).await;
    assert_eq!(pid, spare);
    assert_eq!(
        error_tuple(workflow_error(&timeout).unwrap()),
        (
            "TimeoutError",
            "Workflow failed to return within 1500ms",
            "kill"
        )
    );

    let (_, spare) = spare_of(&engine).await;
    let (oom, pid) = run_linked(&engine, "m", d, &["alloc"]).await;
    assert_eq!(pid, spare);
    assert_eq!(workflow_error(&oom).unwrap().error_type, "OOMError");

    let (_, spare) = spare_of(&engine).await;
    let (exit, pid) = run_linked(&engine, "e", d, &["exit 7"]).await;
    assert_eq!(pid, spare);
    assert_eq!(
        error_tuple(workflow_error(&exit).unwrap()),
        ("ExitError", "Process exited with code: 7", "crash")
    );

    let (_, spare) = spare_of(&engine).await;
    let mut handle = run(&engine, linked_plan("k", d, &["sleep 20000"]));
    let pid = next_matching(&mut handle, thread_of).await;
    assert_eq!(pid, spare);
    sigkill(pid);
    let rest = events_within(handle, 30).await;
    assert_eq!(
        error_tuple(workflow_error(&rest).unwrap()),
        ("ExitError", "Process exited with code: 137", "crash")
    );
    assert_eq!(
        engine.templates()[0].pid,
        template,
        "one template throughout"
    );
    assert!(eventually(|| zombies_of(template).is_empty()).await);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut out) = self.0.lock() {
            out.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn what_adaptors_log_while_a_template_loads_them_reaches_the_engine_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let root = tempfile::tempdir().unwrap();
    let dir = fixture_adaptor(
        root.path(),
        "noisy",
        "console.log('noisy adaptor', { loading: true });\n\
         export const fn = (f) => (state) => f(state);\n",
        &["fn"],
    );
    let engine = js_templated_in(root.path());
    let plan = js_plan_with_adaptor("n", "noisy", &dir, &["fn(s => ({ data: { ok: true } }))"]);
    let events = events_within(run(&engine, plan), 60).await;
    assert_eq!(
        data(&events),
        json!({ "ok": true }),
        "{:?}",
        workflow_error(&events)
    );
    // Not a run's log line: the template loaded the adaptor before any run.
    assert!(
        !logs(&events)
            .iter()
            .any(|(_, text)| text.contains("noisy adaptor")),
        "{:?}",
        logs(&events)
    );
    assert!(
        eventually(|| captured
            .text()
            .contains(r#"noisy adaptor {"loading":true}"#))
        .await,
        "engine log: {}",
        captured.text()
    );
}
