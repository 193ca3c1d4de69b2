//! `openfn compile`, `repo list|clean`, `version` and `--help`.

mod common;

use common::{Env, stderr, stdout};

#[test]
fn compile_prints_the_module() {
    let env = Env::new();
    let job = env.path().join("job.js");
    std::fs::write(&job, "get($.data.url);\nfn(s => s);").unwrap();
    let out = env
        .openfn()
        .current_dir(env.path())
        .args(["compile", "job.js", "-a", "common"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("compiled_job", stdout(&out));
}

#[test]
fn compile_reports_syntax_errors_like_the_kit() {
    let env = Env::new();
    let job = env.path().join("job.js");
    std::fs::write(&job, "fn((s) => { return s )").unwrap();
    let out = env
        .openfn()
        .arg("compile")
        .arg(&job)
        .env("OPENFN_KIT_OUTPUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // in the kit layout, the kit's abort report: reason, the compiler's message, help, `Critical error`
    let text = stdout(&out);
    assert!(text.contains("[CLI] ✘ Failed to compile job\n"), "{text}");
    assert!(text.contains("[CLI] ✘ Unexpected token (1:21)\n"), "{text}");
    assert!(
        text.contains("[CLI] ✘ Critical error: aborting command"),
        "{text}"
    );
}

#[test]
fn compile_a_workflow_prints_the_plan() {
    let env = Env::new();
    let ex = env.examples();
    let out = env
        .openfn()
        .arg("compile")
        .arg(ex.join("plan.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let json = text
        .split_once("Result:\n\n")
        .map_or(text.as_str(), |(_, j)| j);
    let plan: serde_json::Value = serde_json::from_str(json).unwrap();
    let expr = plan["workflow"]["steps"][0]["expression"].as_str().unwrap();
    assert!(expr.contains("export default [fn("), "{expr}");
}

#[test]
fn repo_list_and_clean_on_an_empty_repo() {
    let env = Env::new();
    let out = env.openfn().args(["repo", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Repo working directory is:"));
    let out = env.openfn().args(["repo", "clean"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "no confirmation without a terminal"
    );
    let out = env.openfn().args(["repo", "clean", "-f"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn version_and_help() {
    let env = Env::new();
    let out = env.openfn().arg("version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("openfn (cli)"));
    let out = env.openfn().arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Examples:"));
}
