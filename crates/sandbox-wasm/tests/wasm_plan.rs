//! Plan mode: the same plans run through `openfn-runtime` natively and inside the wasm guest
//! give the same final state, log lines and error classes (a differential test), and the
//! guest reaches module files only under the roots the host gave it.

#![cfg(feature = "wasm")]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use openfn_runtime::{
    Callbacks, Event, ExecutionPlan, Input, LogLevel, LogLine, ModuleInfo, RunError, RunOptions,
    StateJson,
};
use std::sync::Arc;

use openfn_sandbox_wasm::{Limits, PlanOptions, PlanOutcome, PlanResolver};
use serde_json::{Value, json};

fn fixture_adaptor() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/fixtures/adaptor/@openfn/language-common")
        .canonicalize()
        .expect("the runtime's fixture adaptor")
}

/// A compiled job using the fixture `@openfn/language-common`.
fn job(names: &str, ops: &str) -> String {
    format!(
        "import {{ {names} }} from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [{ops}];"
    )
}

#[derive(Default)]
struct Recorder {
    lines: RefCell<Vec<LogLine>>,
    events: RefCell<Vec<String>>,
}

/// The one credential both tiers can resolve.
fn credential(id: &str) -> Result<Value, String> {
    match id {
        "cred-1" => Ok(json!({ "user": "demo", "password": "secret" })),
        other => Err(format!("no credential {other}")),
    }
}

impl Callbacks for Recorder {
    fn notify(&self, event: Event) -> impl std::future::Future<Output = ()> {
        self.events.borrow_mut().push(event.name().to_owned());
        async {}
    }
    fn log(&self, line: LogLine) {
        self.lines.borrow_mut().push(line);
    }
    fn resolve_credential(
        &self,
        id: &str,
    ) -> impl std::future::Future<Output = Result<Value, String>> {
        let r = credential(id);
        async move { r }
    }
}

struct Resolver;

impl PlanResolver for Resolver {
    fn credential(&self, id: &str) -> Result<Value, String> {
        credential(id)
    }
    fn dataclip(&self, id: &str) -> Result<Value, String> {
        Err(format!("no dataclip {id}"))
    }
}

/// What is compared: final state, error class/type and message, log lines (name, level,
/// message) with durations masked, and the event names.
#[derive(Debug, PartialEq)]
struct Observed {
    state: Option<Value>,
    error: Option<(Value, Value)>,
    lines: Vec<String>,
    events: Vec<String>,
}

fn mask(text: &str) -> String {
    // durations ("in 3ms", "1.2s") differ run to run
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut num = c.to_string();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || d == '.' {
                    num.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            let rest: String = chars.clone().take(2).collect();
            if rest.starts_with("ms")
                || rest.starts_with('s') && !rest[1..].starts_with(char::is_alphabetic)
            {
                out.push_str("<t>");
            } else {
                out.push_str(&num);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn line_key(name: &str, level: &str, message: &[Value]) -> String {
    let text: Vec<String> = message
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    mask(&format!("{name} {level} {}", text.join(" ")))
}

fn native(plan: &Value, input: &Value) -> Observed {
    let plan: ExecutionPlan = serde_json::from_value(plan.clone()).expect("plan");
    let mut options = RunOptions {
        log_level: LogLevel::Info,
        ..RunOptions::default()
    };
    options.modules.insert(
        "@openfn/language-common".into(),
        ModuleInfo {
            path: Some(fixture_adaptor().to_string_lossy().into_owned()),
            version: None,
        },
    );
    let host = openfn_runtime::NodeAdaptorHost::for_repo_and_links(
        &fixture_adaptor(),
        &[fixture_adaptor()],
        &["*"],
        false,
    );
    options.adaptor_host = Rc::new(host);
    let rec = Rc::new(Recorder::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let input = Input::State(StateJson::from_value(input));
    let result = rt.block_on(openfn_runtime::run(&plan, input, options, rec.clone()));
    let (state, error) = match result {
        Ok(o) => (o.state.map(|s| s.to_value().expect("json")), None),
        Err(RunError::Aborted(e)) => {
            let v = e.to_value();
            (None, Some((v["type"].clone(), v["message"].clone())))
        }
        Err(e) => panic!("native run failed: {e}"),
    };
    let lines = rec
        .lines
        .borrow()
        .iter()
        .map(|l| line_key(&l.name, l.level.as_str(), &l.message))
        .collect();
    let events = rec.events.borrow().clone();
    Observed {
        state,
        error,
        lines,
        events,
    }
}

fn wasm_outcome(plan: &Value, input: &Value, limits: &Limits) -> PlanOutcome {
    let mut linked = BTreeMap::new();
    linked.insert("@openfn/language-common".to_owned(), fixture_adaptor());
    let options = PlanOptions {
        linked,
        allowed_hosts: vec!["*".to_owned()],
        resolver: Some(Arc::new(Resolver)),
        ..PlanOptions::default()
    };
    let out = common::sandbox()
        .run_plan(plan, Some(input), &options, limits)
        .unwrap_or_else(|e| panic!("{e}"));
    // the differential runs go through the pre-initialised snapshot (the default)
    assert!(out.snapshot.used() && out.prepared, "{:?}", out.snapshot);
    out
}

fn wasm(plan: &Value, input: &Value) -> Observed {
    let out = wasm_outcome(plan, input, &Limits::default());
    let lines = out
        .lines
        .iter()
        .map(|l| {
            let message: Vec<Value> = l["message"].as_array().cloned().unwrap_or_default();
            line_key(
                l["name"].as_str().unwrap_or_default(),
                l["level"].as_str().unwrap_or_default(),
                &message,
            )
        })
        .collect();
    Observed {
        state: out.state,
        error: out.error.map(|e| (e["type"].clone(), e["message"].clone())),
        lines,
        events: out.events.iter().map(|e| e.name.clone()).collect(),
    }
}

fn same(plan: Value, input: Value) -> Observed {
    let n = native(&plan, &input);
    let w = wasm(&plan, &input);
    assert_eq!(w, n, "wasm (left) and native (right) differ");
    n
}

#[test]
fn two_steps_with_an_edge_condition() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => { console.log('a ran'); return { ...s, data: { x: 5 } }; })"),
          "next": { "b": "state.data.x > 1", "c": "state.data.x > 10" } },
        { "id": "b", "expression": job("fn", "fn(s => ({ ...s, data: { ...s.data, b: true } }))") },
        { "id": "c", "expression": job("fn", "fn(s => ({ ...s, data: { ...s.data, c: true } }))") }
    ] } });
    let out = same(plan, json!({ "data": {} }));
    assert_eq!(out.state, Some(json!({ "data": { "x": 5, "b": true } })));
    assert!(
        out.lines.iter().any(|l| l == "JOB info a ran"),
        "{:?}",
        out.lines
    );
}

#[test]
fn a_failing_step_follows_its_failure_edge() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(() => { throw new Error('nope'); })"),
          "next": { "b": { "condition": "on_job_failure" } } },
        { "id": "b", "expression": job("fn", "fn(s => ({ ...s, recovered: true }))") }
    ] } });
    let out = same(plan, json!({ "data": {} }));
    assert_eq!(
        out.state.as_ref().map(|s| s["recovered"].clone()),
        Some(json!(true))
    );
}

#[test]
fn a_crash_aborts_with_the_same_class() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(() => undefinedThing.x)") }
    ] } });
    let out = same(plan, json!({ "data": {} }));
    assert_eq!(out.state, None);
}

#[test]
fn timers_and_promises_settle() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => new Promise(r => setTimeout(() => r({ ...s, waited: true }), 50)))") }
    ] } });
    let out = same(plan, json!({ "data": {} }));
    assert_eq!(
        out.state.as_ref().map(|s| s["waited"].clone()),
        Some(json!(true))
    );
}

#[test]
fn events_carry_the_fuel_used_so_far() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "expression": job("fn", "fn(s => { let n = 0; for (let i = 0; i < 100000; i++) n += i; return { ...s, n }; })") }
    ] } });
    let out = wasm_outcome(&plan, &json!({ "data": {} }), &Limits::default());
    let names: Vec<&str> = out.events.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.contains(&"job-start") && names.contains(&"job-complete"),
        "{names:?}"
    );
    let fuel: Vec<u64> = out.events.iter().map(|e| e.fuel).collect();
    assert!(fuel.windows(2).all(|w| w[0] <= w[1]), "{fuel:?}");
    let start = out
        .events
        .iter()
        .find(|e| e.name == "job-start")
        .map(|e| e.fuel)
        .unwrap_or(0);
    let done = out
        .events
        .iter()
        .find(|e| e.name == "job-complete")
        .map(|e| e.fuel)
        .unwrap_or(0);
    assert!(
        done > start + 100_000,
        "the loop's fuel is between the events: {fuel:?}"
    );
}

#[test]
fn credentials_arrive_as_state_configuration() {
    let plan = json!({ "workflow": { "steps": [
        { "id": "a", "configuration": "cred-1",
          "expression": job("fn", "fn(s => ({ data: { user: s.configuration.user } }))") },
    ], "start": "a" } });
    let out = same(plan, json!({ "data": {} }));
    assert_eq!(out.state, Some(json!({ "data": { "user": "demo" } })));
}
