//! Shared helpers for the runtime integration tests: plan building, a recording callback
//! implementation and a runner that uses the fixture adaptor.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use openfn_runtime::{
    Callbacks, Event, ExecutionPlan, Input, LogLevel, LogLine, ModuleInfo, RunError, RunOptions,
    StateJson, line_text, run,
};
use serde_json::{Value, json};

/// Directory of the fixture adaptor package.
pub fn adaptor_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adaptor/@openfn/language-common")
}

/// Records events and log lines; resolves credentials and dataclips from maps.
#[derive(Default)]
pub struct Recorder {
    pub events: RefCell<Vec<Event>>,
    pub logs: RefCell<Vec<LogLine>>,
    pub credentials: RefCell<serde_json::Map<String, Value>>,
    pub dataclips: RefCell<serde_json::Map<String, Value>>,
}

impl Recorder {
    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.borrow().iter().map(Event::name).collect()
    }

    /// Log lines as `NAME text`.
    pub fn log_texts(&self) -> Vec<String> {
        self.logs
            .borrow()
            .iter()
            .map(|l| format!("{} {}", l.name, line_text(l)))
            .collect()
    }

    pub fn has_log(&self, needle: &str) -> bool {
        self.log_texts().iter().any(|l| l.contains(needle))
    }
}

impl Callbacks for Recorder {
    fn notify(&self, event: Event) -> impl std::future::Future<Output = ()> {
        self.events.borrow_mut().push(event);
        async {}
    }

    fn log(&self, line: LogLine) {
        self.logs.borrow_mut().push(line);
    }

    fn resolve_credential(
        &self,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Value, String>> {
        let r = self
            .credentials
            .borrow()
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no credential {id}"));
        async move { r }
    }

    fn resolve_state(&self, id: &str) -> impl std::future::Future<Output = Result<Value, String>> {
        let r = self
            .dataclips
            .borrow()
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no dataclip {id}"));
        async move { r }
    }
}

/// Options with the fixture adaptor as `@openfn/language-common` and debug logging.
pub fn options() -> RunOptions {
    let mut o = RunOptions {
        log_level: LogLevel::Debug,
        ..RunOptions::default()
    };
    o.modules.insert(
        "@openfn/language-common".into(),
        ModuleInfo {
            path: Some(adaptor_dir().to_string_lossy().into_owned()),
            version: None,
        },
    );
    o
}

/// A compiled job: imports `names` from the fixture adaptor, re-exports it, and wraps `ops`.
pub fn job(names: &str, ops: &str) -> String {
    format!(
        "import {{ {names} }} from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [{ops}];"
    )
}

/// A one-step plan.
pub fn single(expression: &str) -> ExecutionPlan {
    plan(json!({ "workflow": { "steps": [{ "id": "job1", "expression": expression }] } }))
}

pub fn plan(v: Value) -> ExecutionPlan {
    serde_json::from_value(v).expect("plan json")
}

pub fn state(v: Value) -> Input {
    Input::State(StateJson::from_value(&v))
}

/// Run on a fresh current-thread tokio runtime; returns the result and the recorder.
pub fn exec(
    plan: &ExecutionPlan,
    input: Input,
    options: RunOptions,
) -> (Result<Option<Value>, RunError>, Rc<Recorder>) {
    exec_with(plan, input, options, Recorder::default())
}

pub fn exec_with(
    plan: &ExecutionPlan,
    input: Input,
    options: RunOptions,
    recorder: Recorder,
) -> (Result<Option<Value>, RunError>, Rc<Recorder>) {
    let rec = Rc::new(recorder);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let result = rt.block_on(async {
        let timeout = std::time::Duration::from_secs(60);
        tokio::time::timeout(timeout, run(plan, input, options, rec.clone()))
            .await
            .expect("run finished in time")
    });
    let result = result.map(|o| o.state.map(|s| s.to_value().expect("state json")));
    (result, rec)
}

/// Run and expect success.
pub fn ok(plan: &ExecutionPlan, input: Input) -> Value {
    let (r, _) = exec(plan, input, options());
    r.expect("run ok").unwrap_or(Value::Null)
}

/// Run and expect an abort; returns the error object.
pub fn aborted(plan: &ExecutionPlan, input: Input) -> openfn_runtime::RtError {
    let (r, _) = exec(plan, input, options());
    match r {
        Err(RunError::Aborted(e)) => *e,
        other => panic!("expected abort, got {other:?}"),
    }
}
