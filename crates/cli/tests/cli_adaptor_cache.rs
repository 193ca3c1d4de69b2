//! The adaptor tree cache: after a run, an installed adaptor tree loads from one cache file
//! (resolutions and bytecode), which is trusted only for the tree it was built from. A
//! reinstall makes it stale, a corrupt file is rebuilt, and processes building it at the same
//! time leave a valid file.
//!
//! A source file edited in place (which the repo never does: it publishes a tree with one
//! rename) shows which path a run took: the cache still has the old code, a rebuilt or
//! missed cache the new one.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, result_json, stderr};

const ALIAS: &str = "@openfn/language-common_1.0.0";

/// A repo with `@openfn/language-common@1.0.0` installed: an ES module entry importing a
/// CommonJS file that requires a dependency from the tree's own `node_modules`.
fn install(env: &Env, marker: &str) -> PathBuf {
    let repo = env.path().join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::write(
        repo.join("package.json"),
        format!(r#"{{"dependencies": {{"{ALIAS}": "npm:@openfn/language-common@1.0.0"}}}}"#),
    )
    .expect("package.json");
    let staging = repo.join("node_modules/.staging-test");
    let _ = std::fs::remove_dir_all(&staging);
    let files = [
        (
            "package.json",
            r#"{"name":"@openfn/language-common","version":"1.0.0","type":"module","main":"index.js"}"#,
        ),
        (
            "index.js",
            "import m from './lib/marker.cjs';\nexport const fn = (f) => (s) => f({ ...s, marker: m.value });\n",
        ),
        (
            "node_modules/dep/package.json",
            r#"{"name":"dep","main":"main.js"}"#,
        ),
        ("node_modules/dep/main.js", "exports.word = 'tree';\n"),
    ];
    for (path, text) in files {
        let file = staging.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    std::fs::create_dir_all(staging.join("lib")).expect("lib");
    std::fs::write(staging.join("lib/marker.cjs"), marker_source(marker)).expect("marker");
    // a reinstall, as the repo does it: a new directory renamed into place
    let tree = repo.join("node_modules").join(ALIAS);
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&staging, &tree).expect("publish");
    tree
}

fn marker_source(marker: &str) -> String {
    format!("module.exports = {{ value: require('dep').word + '-{marker}' }};\n")
}

/// Edits the CommonJS file in place (the tree directory stays the same).
fn edit_in_place(tree: &Path, marker: &str) {
    std::fs::write(tree.join("lib/marker.cjs"), marker_source(marker)).expect("edit");
}

fn trees_dir(env: &Env) -> PathBuf {
    env.path()
        .join("repo/node_modules/.cache/openfn-bytecode/trees")
}

fn tree_files(env: &Env) -> Vec<PathBuf> {
    std::fs::read_dir(trees_dir(env))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The job file, written once (runs started together must not see it half written).
fn job(env: &Env) -> PathBuf {
    let job = env.path().join("job.js");
    if !job.exists() {
        std::fs::write(&job, "fn(s => s);").expect("job");
    }
    job
}

fn command(env: &Env) -> std::process::Command {
    // as `Env::openfn`, as a std command (spawned several at once below)
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("openfn"));
    cmd.env("HOME", env.path())
        .env("OPENFN_REPO_DIR", env.path().join("repo"))
        .env_remove("OPENFN_ADAPTORS_REPO")
        .env_remove("OPENFN_LOG_JSON")
        .env_remove("OPENFN_ALWAYS_CACHE_STEPS")
        .env("NO_COLOR", "1")
        .arg(job(env))
        .args(["-a", "common@1.0.0", "-O", "--log", "none"])
        // an exact installed version needs no registry; make sure none is reached
        .env("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/");
    cmd
}

/// Runs the job; returns the marker the adaptor put in the state.
fn run_marker(env: &Env) -> String {
    let out = command(env).output().expect("run openfn");
    assert!(out.status.success(), "openfn failed: {}", stderr(&out));
    result_json(&out)["marker"]
        .as_str()
        .expect("a marker in the state")
        .to_owned()
}

#[test]
fn a_second_run_loads_the_tree_from_its_cache_file() {
    let env = Env::new();
    let tree = install(&env, "v1");
    assert_eq!(run_marker(&env), "tree-v1");
    let files = tree_files(&env);
    assert_eq!(
        files.len(),
        2,
        "one cache file for the adaptor's tree, one for the built-ins: {files:?}"
    );

    edit_in_place(&tree, "v2");
    assert_eq!(run_marker(&env), "tree-v1", "the second run used the cache");
}

#[test]
fn a_reinstalled_tree_does_not_use_the_stale_file() {
    let env = Env::new();
    install(&env, "v1");
    assert_eq!(run_marker(&env), "tree-v1");

    let tree = install(&env, "v2");
    assert_eq!(run_marker(&env), "tree-v2", "a stale file was used");
    // the file was rebuilt for the new tree
    edit_in_place(&tree, "v3");
    assert_eq!(run_marker(&env), "tree-v2");
}

#[test]
fn a_corrupt_file_is_ignored_and_rebuilt() {
    let env = Env::new();
    let tree = install(&env, "v1");
    assert_eq!(run_marker(&env), "tree-v1");
    edit_in_place(&tree, "v2");
    for file in tree_files(&env) {
        let mut bytes = std::fs::read(&file).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&file, bytes).expect("corrupt");
    }
    assert_eq!(run_marker(&env), "tree-v2", "a corrupt file was trusted");
    edit_in_place(&tree, "v3");
    assert_eq!(run_marker(&env), "tree-v2", "the corrupt file was rebuilt");

    // a truncated file too
    for file in tree_files(&env) {
        let bytes = std::fs::read(&file).expect("read");
        std::fs::write(&file, &bytes[..bytes.len() / 3]).expect("truncate");
    }
    assert_eq!(run_marker(&env), "tree-v3", "a truncated file was trusted");
}

#[test]
fn concurrent_builders_leave_one_valid_file() {
    let env = Env::new();
    let tree = install(&env, "v1");
    job(&env);
    let children: Vec<_> = (0..4)
        .map(|_| {
            command(&env)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn openfn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "openfn failed: {}", stderr(&out));
        assert_eq!(result_json(&out)["marker"], "tree-v1");
    }
    let files = tree_files(&env);
    assert!(
        files.len() == 2
            && files
                .iter()
                .all(|f| f.extension().is_some_and(|e| e == "qtree")),
        "one file per tree (the adaptor's, the built-ins'), no temporary left: {files:?}"
    );
    edit_in_place(&tree, "v2");
    assert_eq!(
        run_marker(&env),
        "tree-v1",
        "the file the builders left is valid"
    );
}

#[test]
fn a_relative_repo_dir_is_taken_from_the_working_directory() {
    let env = Env::new();
    install(&env, "v1");
    let out = command(&env)
        .current_dir(env.path())
        .env_remove("OPENFN_REPO_DIR")
        .args(["--repo-dir", "repo"])
        .output()
        .expect("run openfn");
    assert!(out.status.success(), "openfn failed: {}", stderr(&out));
    assert_eq!(result_json(&out)["marker"], "tree-v1");
}
