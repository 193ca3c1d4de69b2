//! Shared helpers for the tests that run real npm adaptors: a repo with
//! `@openfn/language-common` and `@openfn/language-http` (the versions pinned in
//! tests/adaptor-versions) installed by openfn-repo (once
//! per build, cached under CARGO_TARGET_TMPDIR), compiling a job against an installed adaptor,
//! and running a one-step plan with the node host.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use openfn_compiler::{AdaptorImports, AddImports, Options, adaptor_exports, compile};
use openfn_repo::{Installed, RegistryConfig, Repo, Specifier};
use openfn_runtime::{
    Callbacks, ExecutionPlan, Input, LogLevel, LogLine, ModuleInfo, NodeAdaptorHost, RunError,
    RunOptions, StateJson, line_text, run,
};
use serde_json::{Value, json};

#[path = "../../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

pub const COMMON: &str = adaptor_versions::COMMON;
pub const HTTP: &str = adaptor_versions::HTTP;

/// The pinned versions (tests/adaptor-versions).
fn specs() -> Vec<Specifier> {
    vec![
        Specifier::new(COMMON, Some(adaptor_versions::version(COMMON))),
        Specifier::new(HTTP, Some(adaptor_versions::version(HTTP))),
    ]
}

/// The repo holding the real adaptors (installed from the npm registry on first use).
pub fn repo_dir() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-adaptor-repo");
    if let Ok(repo) = Repo::open(&base, RegistryConfig::from_env())
        && specs().iter().all(|s| repo.resolve(s).is_some())
    {
        return base;
    }
    // Install into a private staging repo, then publish it with one rename (test processes
    // run in parallel; the loser of the race drops its copy).
    let staging = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("runtime-adaptor-repo.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let repo = Repo::open(&staging, RegistryConfig::from_env()).expect("open repo");
        repo.install(&specs()).await.expect("install adaptors");
    });
    if std::fs::rename(&staging, &base).is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    base
}

/// The installed adaptor `name` (`@openfn/language-common` or `-http`).
pub fn installed(repo: &Path, name: &str) -> Installed {
    let repo = Repo::open(repo, RegistryConfig::from_env()).expect("open repo");
    let spec = specs()
        .into_iter()
        .find(|s| s.name == name)
        .expect("known adaptor");
    repo.resolve(&spec).expect("adaptor installed")
}

/// Compiles a job as the CLI does for one adaptor: imports from its exports, `export *`.
/// Returns the module text and its source map.
pub fn compile_job(source: &str, adaptor: &Installed) -> (String, Value) {
    let options = Options {
        name: "job".to_owned(),
        imports: AddImports {
            ignore: Vec::new(),
            adaptors: vec![AdaptorImports {
                name: adaptor.name.clone(),
                exports: Some(adaptor_exports(&adaptor.path)),
                export_all: true,
            }],
        },
        ..Options::default()
    };
    let compiled = compile(source, &options).expect("job compiles");
    let map = serde_json::to_value(&compiled.map).expect("source map json");
    (compiled.code, map)
}

/// Run options for `adaptor` from the repo, with `host`.
pub fn options(repo: &Path, adaptor: &Installed, host: &NodeAdaptorHost) -> RunOptions {
    let mut options = RunOptions::with_node_host(repo, host.clone());
    options.log_level = LogLevel::Debug;
    options.modules.insert(
        adaptor.name.clone(),
        ModuleInfo {
            path: Some(adaptor.path.to_string_lossy().into_owned()),
            version: Some(adaptor.version.clone()),
        },
    );
    options
}

/// The host used by these tests: modules from the repo, HTTP to 127.0.0.1 only.
pub fn host(repo: &Path) -> NodeAdaptorHost {
    NodeAdaptorHost::for_repo(repo, &["127.0.0.1"], false)
}

/// Runs compiled `code` (with its source map) as the one step `job` on `rt`, returning the
/// final state (or the abort as `{"thrown": {name, message}}`).
pub fn run_job(
    rt: &tokio::runtime::Runtime,
    compiled: &(String, Value),
    input: Option<Value>,
    options: RunOptions,
) -> Value {
    run_job_records(rt, compiled, input, options).0
}

/// Collects log lines as `NAME text`, and as `{name, level, message}` records.
#[derive(Default)]
pub struct Logs(pub RefCell<Vec<String>>, pub RefCell<Vec<Value>>);

impl Callbacks for Logs {
    fn log(&self, line: LogLine) {
        self.0
            .borrow_mut()
            .push(format!("{} {}", line.name, line_text(&line)));
        self.1.borrow_mut().push(json!({
            "name": line.name,
            "level": line.level.as_str(),
            "message": line.message,
        }));
    }
}

/// [`run_job`], also returning the log lines.
pub fn run_job_logged(
    rt: &tokio::runtime::Runtime,
    compiled: &(String, Value),
    input: Option<Value>,
    options: RunOptions,
) -> (Value, Vec<String>) {
    let (state, logs) = run_job_records(rt, compiled, input, options);
    let lines = logs.0.borrow().clone();
    (state, lines)
}

/// [`run_job`], also returning the collected log lines.
pub fn run_job_records(
    rt: &tokio::runtime::Runtime,
    (code, map): &(String, Value),
    input: Option<Value>,
    options: RunOptions,
) -> (Value, Rc<Logs>) {
    let logs = Rc::new(Logs::default());
    let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
        {"id": "job", "expression": code, "sourceMap": map}
    ]}}))
    .expect("plan");
    let input = match input {
        Some(v) => Input::State(StateJson::from_value(&v)),
        None => Input::Empty,
    };
    let result = rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            run(&plan, input, options, logs.clone()),
        )
        .await
        .expect("run finished in time")
    });
    let state = match result {
        Ok(outcome) => outcome
            .state
            .map(|s| s.to_value().expect("state json"))
            .unwrap_or(Value::Null),
        Err(RunError::Aborted(e)) => json!({"thrown": {"name": e.name, "message": e.message}}),
        Err(e) => json!({"thrown": {"name": "RunError", "message": e.to_string()}}),
    };
    (state, logs)
}

pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}
