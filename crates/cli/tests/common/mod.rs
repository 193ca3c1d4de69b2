//! Shared helpers for the CLI tests: an `openfn` command isolated from the user's home and repo,
//! and a fake adaptors monorepo whose `common` is the runtime's small test adaptor.

#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod registry;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn examples() -> PathBuf {
    workspace().join("examples")
}

/// The runtime's fixture adaptor (fn, each, execute, …), standing in for language-common.
pub fn fixture_common() -> PathBuf {
    workspace().join("crates/runtime/tests/fixtures/adaptor/@openfn/language-common")
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        // A monorepo layout: <dir>/monorepo/packages/common.
        let common = dir.path().join("monorepo/packages/common");
        copy_dir(&fixture_common(), &common);
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn monorepo(&self) -> PathBuf {
        self.dir.path().join("monorepo")
    }

    /// `openfn` with HOME and the repo inside the temp dir and no colour.
    pub fn openfn(&self) -> Command {
        let mut cmd = Command::cargo_bin("openfn").expect("openfn binary");
        cmd.env("HOME", self.path())
            .env("OPENFN_REPO_DIR", self.path().join("repo"))
            .env_remove("OPENFN_ADAPTORS_REPO")
            .env_remove("OPENFN_LOG_JSON")
            .env_remove("OPENFN_ALWAYS_CACHE_STEPS")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Copies the examples folder into the temp dir (runs write output.json beside the input).
    pub fn examples(&self) -> PathBuf {
        let to = self.path().join("examples");
        copy_dir(&examples(), &to);
        to
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Everything the command printed, stdout then stderr (where logs go with `-O`).
pub fn all_output(output: &std::process::Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The result printed with `-O`: all of stdout (logs go to stderr), or in the kit layout
/// (`OPENFN_KIT_OUTPUT=1`) the JSON after `Result: `.
pub fn result_json(output: &std::process::Output) -> serde_json::Value {
    let out = stdout(output);
    if out.starts_with(['{', '[']) {
        return serde_json::from_str(&out).expect("stdout is the result alone");
    }
    let start = out
        .find("Result: ")
        .map(|i| i + "Result: ".len())
        .expect("a Result: line");
    let rest = &out[start..];
    // the kit prints the state as an `always` line: `[CLI] ♦ {`
    let rest = rest.find("♦ ").map_or(rest, |i| &rest[i + "♦ ".len()..]);
    let json_start = rest.find(['{', '[']).expect("json after Result:");
    let mut de =
        serde_json::Deserializer::from_str(&rest[json_start..]).into_iter::<serde_json::Value>();
    de.next().expect("a value").expect("valid json")
}
