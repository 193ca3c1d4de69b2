//! Helpers shared by the engine tests: engines pointed at a test child, plans, resolvers and
//! event lookups (every wait is bounded).

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openfn_engine::{
    ChildCommand, Engine, EngineConfig, EngineEvent, ErrorInfo, ExecutionPlan, Input,
    ResolveFuture, Resolvers, RunHandle, RunOptions, TemplateConfig, TemplateMode,
};
use serde_json::{Value, json};

/// Templates in the engine tests: `OPENFN_ENGINE_TEST_TEMPLATES` = `always` (the default: every
/// run forks from a warm template), `background` or `off` (today's pooled children; CI runs the
/// suite once this way too).
pub fn test_templates() -> TemplateConfig {
    let mode = match std::env::var("OPENFN_ENGINE_TEST_TEMPLATES").as_deref() {
        Ok("off") => TemplateMode::Off,
        Ok("background") => TemplateMode::Background,
        _ => TemplateMode::Always,
    };
    TemplateConfig {
        mode,
        ..TemplateConfig::default()
    }
}

/// The engine defaults with the test suite's template mode.
pub fn test_config() -> EngineConfig {
    EngineConfig {
        templates: test_templates(),
        ..EngineConfig::default()
    }
}

/// Pooled children only (tests of the pool itself: reuse, recycling).
pub fn pooled_config() -> EngineConfig {
    EngineConfig {
        templates: TemplateConfig {
            mode: TemplateMode::Off,
            ..TemplateConfig::default()
        },
        ..EngineConfig::default()
    }
}

/// The scripted test child (fault injection without JavaScript).
pub fn script_child() -> ChildCommand {
    ChildCommand::binary(env!("CARGO_BIN_EXE_openfn-engine-test-child"))
}

pub fn engine(capacity: usize) -> Engine {
    engine_with(EngineConfig {
        capacity,
        ..test_config()
    })
}

pub fn engine_with(config: EngineConfig) -> Engine {
    let config = EngineConfig {
        child_command: Some(script_child()),
        ..config
    };
    Engine::new(config).expect("engine")
}

/// A plan whose steps run the given scripts, in order.
pub fn plan(id: &str, scripts: &[&str]) -> Value {
    let steps: Vec<Value> = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| json!({ "id": format!("step-{}", i + 1), "name": format!("Step {}", i + 1), "expression": s }))
        .collect();
    json!({ "id": id, "workflow": { "steps": steps }, "options": {} })
}

/// Resolvers backed by maps; a missing id fails with `[fetch:credential] not found`-style text.
#[derive(Default)]
pub struct MapResolvers {
    pub credentials: HashMap<String, Result<String, String>>,
    pub states: HashMap<String, Result<String, String>>,
}

fn lookup(map: &HashMap<String, Result<String, String>>, id: &str) -> ResolveFuture {
    let found = map
        .get(id)
        .cloned()
        .unwrap_or_else(|| Err(format!("{id} not found")));
    Box::pin(async move {
        found.and_then(|s| serde_json::value::RawValue::from_string(s).map_err(|e| e.to_string()))
    })
}

impl Resolvers for MapResolvers {
    fn credential(&self, id: &str) -> ResolveFuture {
        lookup(&self.credentials, id)
    }

    fn state(&self, id: &str) -> ResolveFuture {
        lookup(&self.states, id)
    }
}

pub fn no_resolvers() -> Arc<dyn Resolvers> {
    Arc::new(openfn_engine::NoResolvers)
}

/// The typed plan the engine takes.
pub fn xp(plan: Value) -> ExecutionPlan {
    ExecutionPlan::from_value(plan).expect("valid plan")
}

pub fn run(engine: &Engine, plan: Value) -> RunHandle {
    engine.execute(
        xp(plan),
        Input::Empty,
        RunOptions::default(),
        no_resolvers(),
    )
}

/// All events of a run, failing the test if it takes longer than `secs`.
pub async fn events_within(handle: RunHandle, secs: u64) -> Vec<EngineEvent> {
    tokio::time::timeout(Duration::from_secs(secs), handle.collect())
        .await
        .expect("run did not finish in time")
}

pub fn names(events: &[EngineEvent]) -> Vec<&'static str> {
    events.iter().map(EngineEvent::name).collect()
}

/// The error of the terminal `workflow-error`, if the run ended with one.
pub fn workflow_error(events: &[EngineEvent]) -> Option<&ErrorInfo> {
    events.iter().find_map(|e| match e {
        EngineEvent::WorkflowError { error, .. } => Some(error),
        _ => None,
    })
}

/// The final state of a completed run, parsed.
pub fn final_state(events: &[EngineEvent]) -> Option<Value> {
    events.iter().find_map(|e| match e {
        EngineEvent::WorkflowComplete { state, .. } => serde_json::from_str(state.get()).ok(),
        _ => None,
    })
}

/// Log messages (the JSON text of each message array) with their logger names.
pub fn logs(events: &[EngineEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::WorkflowLog { log, .. } => {
                Some((log.name.clone(), log.message.get().to_owned()))
            }
            _ => None,
        })
        .collect()
}

/// Reads the run's events (within 30 s each) until `found` picks something out of one.
pub async fn next_matching<T>(
    handle: &mut RunHandle,
    mut found: impl FnMut(&EngineEvent) -> Option<T>,
) -> T {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), handle.next())
            .await
            .expect("an event within 30 s")
            .expect("the run ended first");
        if let Some(t) = found(&event) {
            return t;
        }
    }
}

/// SIGKILLs `pid`.
pub fn sigkill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

pub fn thread_of(event: &EngineEvent) -> Option<u32> {
    match event {
        EngineEvent::WorkflowStart { thread_id, .. } => Some(*thread_id),
        _ => None,
    }
}

pub fn error_tuple(e: &ErrorInfo) -> (&str, &str, &str) {
    (
        e.error_type.as_str(),
        e.message.as_str(),
        e.severity.as_str(),
    )
}

/// A plan of job steps (source code) chained a → b → c, each using the fixture adaptor.
pub fn js_plan(id: &str, jobs: &[&str]) -> Value {
    let steps: Vec<Value> = jobs
        .iter()
        .enumerate()
        .map(|(i, src)| {
            let mut step = json!({
                "id": format!("job-{}", i + 1),
                "name": format!("Job {}", i + 1),
                "expression": src,
                "adaptors": ["@openfn/language-common@1.0.0"],
            });
            if i + 1 < jobs.len() {
                step["next"] = json!({ format!("job-{}", i + 2): true });
            }
            step
        })
        .collect();
    json!({ "id": id, "workflow": { "steps": steps }, "options": {} })
}

/// A plan of scripted steps whose single adaptor is linked at `dir` (the template's key).
pub fn linked_plan(id: &str, dir: &Path, scripts: &[&str]) -> Value {
    let mut plan = plan(id, scripts);
    if let Some(steps) = plan["workflow"]["steps"].as_array_mut() {
        for step in steps {
            step["linker"] = json!({ "fixture": { "path": dir.to_string_lossy() } });
        }
    }
    plan
}

/// The `data` of the run's final state.
pub fn data(events: &[openfn_engine::EngineEvent]) -> Value {
    final_state(events).expect("completed")["data"].clone()
}

/// The parent pid of `pid` (from `/proc`), if it is alive.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Pids of the zombie children of `pid`.
pub fn zombies_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                let Some((_, after)) = stat.rsplit_once(')') else {
                    return false;
                };
                let mut fields = after.split_whitespace();
                fields.next() == Some("Z") && fields.next() == Some(&pid.to_string())
            })
        })
        .collect()
}

/// Polls `check` until it holds (at most about 5 s); whether it did.
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    check()
}

/// Every run forks from a template (a new set waits for its template).
pub fn always() -> TemplateConfig {
    TemplateConfig {
        mode: TemplateMode::Always,
        ..TemplateConfig::default()
    }
}

/// An engine on the scripted child whose runs fork from templates.
pub fn templated(capacity: usize) -> Engine {
    engine_with(EngineConfig {
        capacity,
        memory_limit_mb: 64,
        run_timeout_ms: 1500,
        kill_grace: Duration::from_millis(300),
        templates: always(),
        ..EngineConfig::default()
    })
}

/// Writes an ESM adaptor `@openfn/language-<name>@1.0.0` with `index.js` (and `index.d.ts`
/// declaring `exports`) under `root`; returns its directory.
pub fn fixture_adaptor(
    root: &Path,
    name: &str,
    index_js: &str,
    exports: &[&str],
) -> std::path::PathBuf {
    let dir = root.join(format!("language-{name}_1.0.0"));
    std::fs::create_dir_all(&dir).expect("adaptor dir");
    let package = json!({
        "name": format!("@openfn/language-{name}"),
        "version": "1.0.0",
        "type": "module",
        "exports": { ".": { "import": "./index.js" } }
    });
    std::fs::write(dir.join("package.json"), package.to_string()).expect("package.json");
    std::fs::write(dir.join("index.js"), index_js).expect("index.js");
    let types: String = exports
        .iter()
        .map(|e| format!("export declare function {e}(...args: any[]): any;\n"))
        .collect();
    std::fs::write(dir.join("index.d.ts"), types).expect("index.d.ts");
    dir
}

/// A JavaScript plan whose steps use the adaptor `@openfn/language-<name>` linked at `dir`.
pub fn js_plan_with_adaptor(id: &str, name: &str, dir: &Path, jobs: &[&str]) -> Value {
    let mut plan = js_plan(id, jobs);
    if let Some(steps) = plan["workflow"]["steps"].as_array_mut() {
        for step in steps {
            step["adaptors"] = json!([format!("@openfn/language-{name}@1.0.0")]);
            step["linker"] =
                json!({ format!("@openfn/language-{name}"): { "path": dir.to_string_lossy() } });
        }
    }
    plan
}

/// An engine running JavaScript (the real child) whose runs fork from templates; adaptors
/// from `repo`.
pub fn js_templated_in(repo: &Path) -> Engine {
    Engine::new(EngineConfig {
        capacity: 2,
        repo_dir: repo.to_path_buf(),
        memory_limit_mb: 64,
        run_timeout_ms: 5000,
        kill_grace: Duration::from_millis(500),
        child_command: Some(ChildCommand::binary(env!(
            "CARGO_BIN_EXE_openfn-engine-child"
        ))),
        templates: always(),
        ..EngineConfig::default()
    })
    .expect("engine")
}
