//! Warm adaptor templates: runs fork from a template of their adaptor set, each in a fresh
//! process that cannot see another run's changes; a forked run's timeout, OOM and SIGKILL are
//! classified as a pooled child's; a reinstalled adaptor retires its template; no zombies.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use openfn_engine::{Engine, EngineConfig, TemplateConfig};
use serde_json::{Value, json};
use support::*;

#[tokio::test]
async fn runs_fork_from_one_template_and_never_see_each_other() {
    let engine = templated(2);
    let dir = tempfile::tempdir().unwrap();
    let first = events_within(
        run(&engine, linked_plan("a", dir.path(), &["whoami; mark"])),
        30,
    )
    .await;
    let second = events_within(
        run(&engine, linked_plan("b", dir.path(), &["whoami; mark"])),
        30,
    )
    .await;
    let (a, b) = (data(&first), data(&second));
    let templates = engine.templates();
    assert_eq!(templates.len(), 1, "one set, one template");
    let template = templates[0].pid;
    // Both runs are children of the template, in distinct processes.
    assert_eq!(a["ppid"], json!(template));
    assert_eq!(b["ppid"], json!(template));
    assert_ne!(a["pid"], b["pid"]);
    // Each saw the template's prepared state untouched, although the first changed it.
    assert_eq!(a["mark"], json!(41));
    assert_eq!(b["mark"], json!(41));
    assert!(templates[0].rss_bytes > 0);
}

#[tokio::test]
async fn a_pooled_child_sees_no_template_state() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        ..pooled_config()
    });
    let events = events_within(run(&engine, plan("p", &["mark"])), 30).await;
    assert_eq!(data(&events)["mark"], json!(0));
    assert!(engine.templates().is_empty());
}

#[tokio::test]
async fn forked_runs_fail_like_pooled_children() {
    let engine = templated(2);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let timeout = events_within(run(&engine, linked_plan("t", d, &["spin"])), 30).await;
    assert_eq!(
        error_tuple(workflow_error(&timeout).unwrap()),
        (
            "TimeoutError",
            "Workflow failed to return within 1500ms",
            "kill"
        )
    );
    let oom = events_within(run(&engine, linked_plan("m", d, &["alloc"])), 60).await;
    assert_eq!(workflow_error(&oom).unwrap().error_type, "OOMError");
    let exit = events_within(run(&engine, linked_plan("e", d, &["exit 7"])), 30).await;
    assert_eq!(
        error_tuple(workflow_error(&exit).unwrap()),
        ("ExitError", "Process exited with code: 7", "crash")
    );
    let abort = events_within(run(&engine, linked_plan("a", d, &["abort"])), 30).await;
    assert_eq!(
        workflow_error(&abort).unwrap().message,
        "Process exited with code: 134"
    );

    let mut handle = run(&engine, linked_plan("k", d, &["sleep 20000"]));
    let pid = next_matching(&mut handle, thread_of).await;
    let template = engine.templates()[0].pid;
    assert_eq!(parent_of(pid), Some(template), "the run was forked");
    sigkill(pid);
    let rest = events_within(handle, 30).await;
    assert_eq!(
        error_tuple(workflow_error(&rest).unwrap()),
        ("ExitError", "Process exited with code: 137", "crash")
    );
    // The same template serves the next run, and reaped every run before.
    let ok = events_within(run(&engine, linked_plan("n", d, &["count"])), 30).await;
    assert_eq!(data(&ok)["count"], json!(1));
    assert_eq!(engine.templates()[0].pid, template);
    assert!(eventually(|| zombies_of(template).is_empty()).await);
}

#[tokio::test]
async fn a_reinstalled_adaptor_retires_its_template() {
    let engine = templated(1);
    let root = tempfile::tempdir().unwrap();
    let dir: PathBuf = root.path().join("fixture_1.0.0");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("package.json"), "{}").unwrap();
    let first = events_within(run(&engine, linked_plan("a", &dir, &["whoami"])), 30).await;
    let old = data(&first)["ppid"].clone();
    // Reinstall: a new directory renamed over the old one, as the repository does.
    let staged = root.path().join("staging");
    std::fs::create_dir(&staged).unwrap();
    std::fs::write(staged.join("package.json"), "{\"v\":2}").unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&staged, &dir).unwrap();
    let second = events_within(run(&engine, linked_plan("b", &dir, &["whoami"])), 30).await;
    let new = data(&second)["ppid"].clone();
    assert_ne!(old, new, "a new template after the reinstall");
    assert_eq!(engine.templates().len(), 1);
    assert_eq!(json!(engine.templates()[0].pid), new);
    // The retired template exits once its runs are reaped.
    let old_pid = old.as_u64().unwrap() as u32;
    assert!(eventually(|| parent_of(old_pid).is_none()).await);
}

#[tokio::test]
async fn templates_are_bounded_and_a_failed_set_runs_pooled() {
    let engine = engine_with(EngineConfig {
        capacity: 1,
        templates: TemplateConfig {
            max_templates: 2,
            ..always()
        },
        ..EngineConfig::default()
    });
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, dir) in dirs.iter().enumerate() {
        let events = events_within(
            run(
                &engine,
                linked_plan(&format!("r{i}"), dir.path(), &["count"]),
            ),
            30,
        )
        .await;
        assert_eq!(data(&events)["count"], json!(1));
    }
    let kept: Vec<String> = engine
        .templates()
        .iter()
        .flat_map(|t| t.adaptors.values().cloned())
        .collect();
    let path = |i: usize| dirs[i].path().to_string_lossy().into_owned();
    assert_eq!(kept, vec![path(1), path(2)], "least recently used evicted");

    // A set whose template cannot prepare still runs, in a pooled child.
    let mut broken = plan("x", &["whoami; mark"]);
    broken["workflow"]["steps"][0]["linker"] = json!({ "fail-to-prepare": { "path": "/nowhere" } });
    let events = events_within(run(&engine, broken), 30).await;
    assert_eq!(data(&events)["mark"], json!(0));
}

fn js_templated() -> Engine {
    Engine::new(EngineConfig {
        capacity: 2,
        repo_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo"),
        memory_limit_mb: 64,
        run_timeout_ms: 5000,
        kill_grace: Duration::from_millis(500),
        child_command: Some(openfn_engine::ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        templates: always(),
        ..EngineConfig::default()
    })
    .expect("engine")
}

async fn js_run(engine: &Engine, plan: Value) -> Vec<openfn_engine::EngineEvent> {
    events_within(run(engine, plan), 60).await
}

/// The `Threads:` line of `/proc/<pid>/status`.
fn threads_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

#[tokio::test]
async fn javascript_runs_forked_from_one_template_cannot_see_each_others_changes() {
    let engine = js_templated();
    // Each run changes a global, a shared prototype, and the adaptor module's own objects,
    // after recording what it found.
    let job = r#"fn(state => {
        const seen = {
            global: typeof globalThis.leak,
            proto: typeof ({}).polluted,
            arrayProto: typeof [].polluted,
            adaptor: typeof fn.marker,
        };
        globalThis.leak = 1;
        Object.prototype.polluted = 1;
        Array.prototype.polluted = 1;
        try { fn.marker = 1; } catch (e) {}
        return { data: seen };
    })"#;
    let first = js_run(&engine, js_plan("a", &[job])).await;
    let second = js_run(&engine, js_plan("b", &[job])).await;
    let pristine = json!({
        "global": "undefined", "proto": "undefined", "arrayProto": "undefined", "adaptor": "undefined"
    });
    assert_eq!(data(&first), pristine, "{:?}", workflow_error(&first));
    assert_eq!(data(&second), pristine, "{:?}", workflow_error(&second));
    let templates = engine.templates();
    assert_eq!(templates.len(), 1);
    // The template is single-threaded (fork safety) and has the adaptor loaded.
    assert_eq!(threads_of(templates[0].pid), Some(1));
    assert!(templates[0].rss_bytes > 0);
}

#[tokio::test]
async fn a_prewarmed_adaptor_has_its_template_before_the_first_run() {
    let engine = js_templated();
    assert!(engine.templates().is_empty());
    assert!(engine.prewarm("@openfn/language-common@1.0.0").await);
    let templates = engine.templates();
    assert_eq!(templates.len(), 1);
    let template = templates[0].pid;
    let events = js_run(
        &engine,
        js_plan("w", &["fn(s => ({ data: { ok: true } }))"]),
    )
    .await;
    assert_eq!(data(&events), json!({ "ok": true }));
    // The run used the prewarmed template: no second one was started.
    assert_eq!(
        engine.templates().iter().map(|t| t.pid).collect::<Vec<_>>(),
        vec![template]
    );
}

#[tokio::test]
async fn forked_runs_draw_their_own_random_numbers() {
    let root = tempfile::tempdir().unwrap();
    let dir = fixture_adaptor(
        root.path(),
        "dice",
        "export const fn = (f) => (state) => f(state);\n\
         export const roll = () => Math.random();\n",
        &["fn", "roll"],
    );
    let engine = js_templated_in(root.path());
    let job = "fn(s => ({ data: { adaptor: [roll(), roll()], job: Math.random() } }))";
    let mut seen = Vec::new();
    for id in ["a", "b", "c"] {
        let events = js_run(&engine, js_plan_with_adaptor(id, "dice", &dir, &[job])).await;
        seen.push(data(&events));
    }
    assert_eq!(
        engine.templates().len(),
        1,
        "all three forked from one template"
    );
    for (i, a) in seen.iter().enumerate() {
        assert_ne!(a["adaptor"][0], a["adaptor"][1], "{a}");
        for b in &seen[i + 1..] {
            assert_ne!(
                a["adaptor"], b["adaptor"],
                "the adaptor realm repeats: {seen:?}"
            );
            assert_ne!(a["job"], b["job"], "the job realm repeats: {seen:?}");
        }
    }
}
