//! Test-support child for the engine's own tests: a binary that runs the engine's child loop
//! with a tiny scripted job instead of the JavaScript runtime, so the supervisor's machinery
//! (pool, IPC, limits, crash handling) can be exercised with exact, fast fault injection.
//!
//! A step's `expression` is a `;`-separated list of commands:
//! `set KEY JSON`, `big KEY BYTES`, `count`, `log TEXT`, `biglog BYTES`, `sleep MS`, `loop`
//! (until interrupted), `spin` (ignores interrupts), `alloc` (allocates without bound),
//! `hugealloc MB` (one allocation of that size),
//! `exit N`, `abort`, `throw MSG` (JobError, fail), `crash TYPE MSG`, `kill TYPE MSG`,
//! `cred ID`, `state ID`, `mark` (reads then bumps the state a template prepared),
//! `whoami` (pid and parent pid). An expression starting with `compile-error MSG` fails to compile;
//! one starting with `compile-alloc` allocates without bound while compiling.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openfn_engine::child::{self, ChildJob, Failure, JobRequest, JobSink};
use openfn_engine::{ErrorInfo, Mem, Severity};
use serde_json::{Value, json};

fn main() {
    if child::is_template_invocation() {
        // The template prepares a marker the forked runs can read and change (`template`).
        child::run_template(
            |spec| {
                if spec.adaptors.contains_key("fail-to-prepare") {
                    return Err("cannot prepare".to_owned());
                }
                TEMPLATE_MARK.store(41, Ordering::SeqCst);
                Ok(())
            },
            |()| Box::new(Script),
        );
    }
    if child::is_child_invocation() {
        child::run_child(&Script);
    }
    eprintln!(
        "openfn-engine-test-child: run me with {}",
        openfn_engine::CHILD_FLAG
    );
    std::process::exit(2);
}

struct Script;

/// State a template prepares before forking: 41 in a template's runs, 0 in a pooled child.
static TEMPLATE_MARK: AtomicU64 = AtomicU64::new(0);

fn allocate_forever() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 4 << 20];
        for i in (0..block.len()).step_by(4096) {
            block[i] = 1;
        }
        hoard.push(block);
    }
}

fn error(kind: &str, message: &str, severity: Severity) -> ErrorInfo {
    ErrorInfo::new(kind, message, severity)
}

impl ChildJob for Script {
    fn versions(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("runtime".to_owned(), "script".to_owned())])
    }

    fn run(&self, request: JobRequest, sink: Arc<dyn JobSink>) -> Result<String, Failure> {
        let plan: Value = serde_json::from_str(request.plan.get()).map_err(|e| {
            Failure::new(error("ExecutionError", &e.to_string(), Severity::Exception))
        })?;
        let steps: Vec<Value> = plan
            .pointer("/workflow/steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();

        sink.compile_start();
        let compiling = Instant::now();
        for step in &steps {
            let expr = step.get("expression").and_then(Value::as_str).unwrap_or("");
            let name = step
                .get("name")
                .or_else(|| step.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if expr.starts_with("compile-alloc") {
                allocate_forever();
            }
            if let Some(msg) = expr.strip_prefix("compile-error ") {
                sink.log(
                    "info",
                    "RTE",
                    json!(["Error occurred during compilation"]).to_string(),
                );
                let mut e = error("CompileError", &format!("{name}: {msg}"), Severity::Crash);
                e.name = Some("SyntaxError".into());
                return Err(Failure::new(e));
            }
        }
        sink.compile_complete(compiling.elapsed().as_millis() as u64);

        let mut state: Value = match &request.input {
            Some(raw) => serde_json::from_str(raw.get()).unwrap_or(json!({})),
            None => json!({ "data": {} }),
        };
        for (i, step) in steps.iter().enumerate() {
            let Some(expr) = step.get("expression").and_then(Value::as_str) else {
                continue;
            };
            let id = step
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("job")
                .to_owned();
            let next: Vec<String> = steps
                .get(i + 1)
                .and_then(|s| s.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .into_iter()
                .collect();
            sink.job_start(&id);
            let started = Instant::now();
            let mut outcome = Ok(());
            for command in expr.split(';').map(str::trim).filter(|c| !c.is_empty()) {
                outcome = apply(command, &mut state, &request, sink.as_ref());
                if outcome.is_err() {
                    break;
                }
            }
            let duration = started.elapsed().as_millis() as u64;
            match outcome {
                Ok(()) => sink.job_complete(
                    &id,
                    duration,
                    next,
                    Mem {
                        job: 1,
                        system: 0,
                        peak: None,
                    },
                    state.to_string(),
                    None,
                ),
                Err(e) => {
                    let severity = e.severity;
                    if let Some(obj) = state.as_object_mut() {
                        obj.entry("errors").or_insert(json!({}))[&id] =
                            json!({ "name": e.error_type, "message": e.message });
                    }
                    sink.job_error(&id, duration, next, e.clone(), state.to_string(), None);
                    if severity != Severity::Fail {
                        return Err(Failure::new(e));
                    }
                }
            }
        }
        Ok(state.to_string())
    }
}

fn data(state: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !state.get("data").is_some_and(Value::is_object) {
        state["data"] = json!({});
    }
    state["data"]
        .as_object_mut()
        .expect("data was just made an object")
}

fn apply(
    command: &str,
    state: &mut Value,
    request: &JobRequest,
    sink: &dyn JobSink,
) -> Result<(), ErrorInfo> {
    let (op, rest) = command.split_once(' ').unwrap_or((command, ""));
    match op {
        "set" => {
            let (key, value) = rest.split_once(' ').unwrap_or((rest, "null"));
            data(state).insert(
                key.to_owned(),
                serde_json::from_str(value).unwrap_or(Value::Null),
            );
        }
        "big" => {
            let (key, n) = rest.split_once(' ').unwrap_or((rest, "0"));
            data(state).insert(
                key.to_owned(),
                Value::String("x".repeat(n.parse().unwrap_or(0))),
            );
        }
        "count" => {
            let n = data(state)
                .get("count")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            data(state).insert("count".into(), json!(n + 1));
        }
        "log" => sink.log("info", "JOB", json!([rest]).to_string()),
        "mark" => {
            // Reads the template's state, then changes it (a later run must not see this).
            let seen = TEMPLATE_MARK.fetch_add(1000, Ordering::SeqCst);
            data(state).insert("mark".into(), json!(seen));
        }
        "whoami" => {
            data(state).insert("pid".into(), json!(std::process::id()));
            data(state).insert("ppid".into(), json!(std::os::unix::process::parent_id()));
        }
        "biglog" => sink.log(
            "info",
            "JOB",
            json!(["y".repeat(rest.parse().unwrap_or(0))]).to_string(),
        ),
        "sleep" => std::thread::sleep(Duration::from_millis(rest.parse().unwrap_or(0))),
        "loop" => loop {
            if request.interrupt.load(Ordering::SeqCst) {
                return Err(error("TimeoutError", "interrupted", Severity::Kill));
            }
            std::hint::spin_loop();
        },
        "spin" => loop {
            std::hint::spin_loop();
        },
        "alloc" => allocate_forever(),
        "hugealloc" => {
            let block = vec![0u8; rest.parse::<usize>().unwrap_or(1) << 20];
            data(state).insert("huge".into(), json!(block.len()));
        }
        "exit" => std::process::exit(rest.parse().unwrap_or(1)),
        "abort" => std::process::abort(),
        "throw" => return Err(error("JobError", rest, Severity::Fail)),
        "crash" | "kill" => {
            let (kind, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            let severity = if op == "crash" {
                Severity::Crash
            } else {
                Severity::Kill
            };
            return Err(error(kind, msg, severity));
        }
        "cred" => {
            let value = sink
                .credential(rest)
                .map_err(|e| error("JobError", &e, Severity::Fail))?;
            data(state).insert(
                "cred".into(),
                serde_json::from_str(&value).unwrap_or(Value::Null),
            );
        }
        "state" => {
            let value = sink
                .state(rest)
                .map_err(|e| error("JobError", &e, Severity::Fail))?;
            data(state).insert(
                "fetched".into(),
                serde_json::from_str(&value).unwrap_or(Value::Null),
            );
        }
        other => {
            return Err(error(
                "ReferenceError",
                &format!("{other} is not defined"),
                Severity::Crash,
            ));
        }
    }
    Ok(())
}
