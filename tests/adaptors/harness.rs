//! The adaptor corpus harness shared by the runtime and engine tests (included with
//! `#[path]`): the corpus jobs, the deterministic HTTP server (`server.py`), normalisation of
//! what legitimately varies (uuid values, the request timings language-http reports), the
//! expected states and log lines (recorded with the kit's compiler and runtime by `record.mjs`)
//! and `KNOWN_FAILURES`, and the final check that exactly the known failures fail.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Stands for the server's base URL in states and expectations.
pub const SERVER_PLACEHOLDER: &str = "http://SERVER";

/// The corpus folder (`tests/adaptors` at the workspace root).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/adaptors")
}

/// The corpus HTTP server, killed on drop.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Server {
    /// Starts `server.py` on a free port.
    pub fn start() -> Server {
        let mut child = Command::new("python3")
            .arg(corpus_dir().join("server.py"))
            .arg("0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run the corpus server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server prints its port");
        let port: u16 = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected server output {line:?}"));
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One corpus job.
pub struct Job {
    /// `NN-name`.
    pub name: String,
    /// Job source.
    pub source: String,
    /// Input state (server placeholder replaced), if the job has one.
    pub input: Option<Value>,
    /// Whether it runs with `@openfn/language-http` (`NN-http-*`), else language-common.
    pub http: bool,
}

/// Every job of the corpus, in name order, with `server`'s URL in its input.
pub fn jobs(server: &Server) -> Vec<Job> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".js") && f.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|f| f.trim_end_matches(".js").to_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let source = std::fs::read_to_string(dir.join(format!("{name}.js"))).expect("job");
            let input = std::fs::read_to_string(dir.join(format!("{name}.state.json")))
                .ok()
                .map(|t| {
                    serde_json::from_str(&t.replace(SERVER_PLACEHOLDER, &server.base))
                        .expect("state json")
                });
            let http = name
                .split_once('-')
                .is_some_and(|(_, rest)| rest.starts_with("http-"));
            Job {
                name,
                source,
                input,
                http,
            }
        })
        .collect()
}

/// Number of corpus jobs (exact, so a lost file fails the run).
pub const JOBS: usize = 67;

/// Jobs whose log lines have no fixed order: their requests run in parallel, so the lines are
/// compared sorted.
const UNORDERED_LOGS: &[&str] = &["64-http-parallel"];

/// Replaces what may legitimately differ between runs: uuid strings anywhere, and the request
/// timings language-http puts in the state (`response.duration`, and `details.duration` of a
/// step's error); a `duration` anywhere else is user data and kept.
pub fn normalize(value: &mut Value) {
    if let Some(d) = value.pointer_mut("/response/duration") {
        zero_number(d);
    }
    if let Some(Value::Object(errors)) = value.get_mut("errors") {
        for error in errors.values_mut() {
            if let Some(d) = error.pointer_mut("/details/duration") {
                zero_number(d);
            }
        }
    }
    normalize_uuids(value);
}

fn zero_number(v: &mut Value) {
    if v.is_number() {
        *v = Value::from(0);
    }
}

fn normalize_uuids(value: &mut Value) {
    match value {
        Value::Object(map) => map.values_mut().for_each(normalize_uuids),
        Value::Array(items) => items.iter_mut().for_each(normalize_uuids),
        Value::String(s) if is_uuid(s) => *s = "<uuid>".to_owned(),
        _ => {}
    }
}

/// Normalises log lines (`[{name, level, message}]`): uuids, and language-http's request
/// times (`GET <url> - 200 in 12ms`), which `record.mjs` normalises the same way.
pub fn normalize_logs(lines: &mut Value) {
    normalize_uuids(lines);
    fn times(v: &mut Value) {
        match v {
            Value::String(s) => *s = request_time_free(s),
            Value::Array(items) => items.iter_mut().for_each(times),
            Value::Object(map) => map.values_mut().for_each(times),
            _ => {}
        }
    }
    times(lines);
}

/// `… in 12ms` → `… in <T>ms`.
fn request_time_free(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(" in ") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        let after = &tail[digits..];
        if digits > 0
            && let Some(unit_end) = after.strip_prefix("ms")
            && !unit_end
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            out.push_str("<T>");
            rest = after;
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Collects the outcome of each job and checks them against `KNOWN_FAILURES`.
#[derive(Default)]
pub struct Report {
    lines: Vec<String>,
    failed: BTreeSet<String>,
    total: usize,
}

impl Report {
    /// Compares the final state of `job` and its log lines (`[{name, level, message}]`, the
    /// `JOB` and `ADA` lines in order; all with the server URL in them) with its expectation.
    pub fn check(&mut self, job: &Job, server: &Server, actual: &Value, logs: &Value) {
        let mut expected = read_expected(&format!("{}.expected.json", job.name));
        let mut actual = with_placeholder(actual, server);
        normalize(&mut expected);
        normalize(&mut actual);
        let mut expected_logs = read_expected(&format!("{}.logs.json", job.name));
        let mut logs = with_placeholder(logs, server);
        normalize_logs(&mut expected_logs);
        normalize_logs(&mut logs);
        if UNORDERED_LOGS.contains(&job.name.as_str()) {
            for lines in [&mut expected_logs, &mut logs] {
                if let Value::Array(items) = lines {
                    items.sort_by_key(|l| l.to_string());
                }
            }
        }
        self.total += 1;
        if actual == expected && logs == expected_logs {
            self.lines.push(format!("pass {}", job.name));
        } else {
            let mut line = format!("FAIL {}", job.name);
            if actual != expected {
                line.push_str(&format!("\n  expected: {expected}\n  actual:   {actual}"));
            }
            if logs != expected_logs {
                line.push_str(&format!(
                    "\n  expected logs: {expected_logs}\n  actual logs:   {logs}"
                ));
            }
            self.lines.push(line);
            self.failed.insert(job.name.clone());
        }
    }

    /// Prints every outcome, then asserts that the failing jobs are exactly the known ones.
    pub fn finish(self) {
        println!("{}", self.lines.join("\n"));
        println!(
            "{}/{} corpus jobs pass",
            self.total - self.failed.len(),
            self.total
        );
        assert_eq!(self.total, JOBS, "the corpus has {} jobs", self.total);
        assert_eq!(
            self.failed,
            known_failures(&corpus_dir()),
            "failing jobs (left) must be exactly tests/adaptors/KNOWN_FAILURES (right)"
        );
    }
}

fn read_expected(file: &str) -> Value {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn with_placeholder(value: &Value, server: &Server) -> Value {
    serde_json::from_str(&value.to_string().replace(&server.base, SERVER_PLACEHOLDER))
        .expect("json")
}

fn known_failures(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("KNOWN_FAILURES"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn normalize_keeps_user_durations_and_zeroes_request_timings() {
    let mut state = serde_json::json!({
        "data": {"duration": 5, "items": [{"duration": 7}]},
        "response": {"duration": 12, "id": "5294e733-aacc-4c0a-84ab-cc3eca7963ab"},
        "errors": {"job": {"details": {"duration": 9}}},
    });
    normalize(&mut state);
    assert_eq!(
        state,
        serde_json::json!({
            "data": {"duration": 5, "items": [{"duration": 7}]},
            "response": {"duration": 0, "id": "<uuid>"},
            "errors": {"job": {"details": {"duration": 0}}},
        })
    );
    assert_eq!(
        request_time_free("GET http://x/json - 200 in 12ms; in 3msx in 4 ms"),
        "GET http://x/json - 200 in <T>ms; in 3msx in 4 ms"
    );
}
