//! The adaptor corpus harness shared by the runtime and engine tests (included with
//! `#[path]`): the corpus jobs, the deterministic HTTP server (`server.py`), normalisation of
//! what legitimately varies (uuid values, HTTP `duration`s), the expected states and
//! `KNOWN_FAILURES`, and the final check that exactly the known failures fail.

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

/// Replaces what may legitimately differ between runs: uuid strings and `duration` numbers.
pub fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "duration" && v.is_number() {
                    *v = Value::from(0);
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::String(s) if is_uuid(s) => *s = "<uuid>".to_owned(),
        _ => {}
    }
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
    /// Compares the final state of `job` (with the server URL in it) with its expectation.
    pub fn check(&mut self, job: &Job, server: &Server, actual: &Value) {
        let path = corpus_dir().join(format!("{}.expected.json", job.name));
        let text = std::fs::read_to_string(&path).expect("expected state file");
        let mut expected: Value = serde_json::from_str(&text).expect("expected json");
        let mut actual: Value =
            serde_json::from_str(&actual.to_string().replace(&server.base, SERVER_PLACEHOLDER))
                .expect("state json");
        normalize(&mut expected);
        normalize(&mut actual);
        self.total += 1;
        if actual == expected {
            self.lines.push(format!("pass {}", job.name));
        } else {
            self.lines.push(format!(
                "FAIL {}\n  expected: {expected}\n  actual:   {actual}",
                job.name
            ));
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
        assert!(self.total >= 30, "the corpus has {} jobs", self.total);
        assert_eq!(
            self.failed,
            known_failures(&corpus_dir()),
            "failing jobs (left) must be exactly tests/adaptors/KNOWN_FAILURES (right)"
        );
    }
}

fn known_failures(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("KNOWN_FAILURES"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}
