//! The adaptor corpus (`tests/adaptors/` at the workspace root): every job compiled with
//! openfn-compiler and run by the runtime with the node host against the real
//! `@openfn/language-common@3` / `@openfn/language-http@7` installed by openfn-repo, with the
//! same deterministic HTTP server (`server.py`) the recorder used. Each final state must equal
//! the `NN-name.expected.json` recorded with node and the kit runtime, except for uuid values
//! and HTTP `duration`s. Jobs listed
//! in `tests/adaptors/KNOWN_FAILURES` must fail and all others must pass.

mod node;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const SERVER_PLACEHOLDER: &str = "http://SERVER";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/adaptors")
}

/// The corpus HTTP server, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new("python3")
            .arg(dir.join("server.py"))
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

/// Replaces what may legitimately differ between runs: uuid strings and `duration` numbers.
fn normalize(value: &mut Value) {
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

fn known_failures(dir: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(dir.join("KNOWN_FAILURES"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn corpus_matches_node_and_the_kit() {
    let dir = corpus_dir();
    let repo = node::repo_dir();
    let common = node::installed(&repo, node::COMMON);
    let http = node::installed(&repo, node::HTTP);
    let host = node::host(&repo);
    let rt = node::tokio_rt();
    let server = Server::start(&dir);

    let mut jobs: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".js") && f.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|f| f.trim_end_matches(".js").to_owned())
        .collect();
    jobs.sort();
    assert!(jobs.len() >= 30, "the corpus has {} jobs", jobs.len());

    let mut failed = BTreeSet::new();
    let mut report = Vec::new();
    for name in &jobs {
        let adaptor = if name
            .split_once('-')
            .is_some_and(|(_, r)| r.starts_with("http-"))
        {
            &http
        } else {
            &common
        };
        let source = std::fs::read_to_string(dir.join(format!("{name}.js"))).expect("job");
        let input = std::fs::read_to_string(dir.join(format!("{name}.state.json")))
            .ok()
            .map(|t| {
                serde_json::from_str::<Value>(&t.replace(SERVER_PLACEHOLDER, &server.base))
                    .expect("state json")
            });
        let expected_text =
            std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).expect("expected");
        let mut expected: Value = serde_json::from_str(&expected_text).expect("expected json");
        let code = node::compile_job(&source, adaptor);
        let state = node::run_job(&rt, &code, input, node::options(&repo, adaptor, &host));
        let mut actual: Value =
            serde_json::from_str(&state.to_string().replace(&server.base, SERVER_PLACEHOLDER))
                .expect("state json");
        normalize(&mut expected);
        normalize(&mut actual);
        if actual == expected {
            report.push(format!("pass {name}"));
        } else {
            report.push(format!(
                "FAIL {name}\n  expected: {expected}\n  actual:   {actual}"
            ));
            failed.insert(name.clone());
        }
    }
    println!("{}", report.join("\n"));
    let known = known_failures(&dir);
    let passing = jobs.len() - failed.len();
    println!("{passing}/{} corpus jobs pass", jobs.len());
    assert_eq!(
        failed, known,
        "failing jobs (left) must be exactly tests/adaptors/KNOWN_FAILURES (right)"
    );
}
