//! Deep input through the binary: a final state nested thousands of levels is written whole
//! (it was a 0-byte file), and job code nested 100,000 levels is a clean compile error, from
//! `openfn compile` and from a run (it was SIGABRT / an engine child dying with code 134).

mod common;

use common::{Env, stderr};

/// `JSON.stringify({ data: <depth × {a: …}> }, null, 2)` with `{leaf: true}` innermost.
fn expected_output(depth: usize) -> String {
    let ind = |n: usize| "  ".repeat(n);
    let mut out = String::from("{\n  \"data\": {\n");
    for i in 0..depth {
        out.push_str(&format!("{}\"a\": {{\n", ind(2 + i)));
    }
    out.push_str(&format!("{}\"leaf\": true\n", ind(2 + depth)));
    for i in (1..=depth + 1).rev() {
        out.push_str(&format!("{}}}\n", ind(i)));
    }
    out.push('}');
    out
}

/// Runs `src` as a job file named `name` with `-o out.json`: the output and the file's path.
fn run_job(env: &Env, name: &str, src: &str) -> (std::process::Output, std::path::PathBuf) {
    let job = env.path().join(name);
    std::fs::write(&job, src).unwrap();
    let output = env.path().join("out.json");
    let out = env
        .openfn()
        .arg(&job)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    (out, output)
}

#[test]
fn a_state_5000_levels_deep_is_written_whole() {
    let env = Env::new();
    let (out, output) = run_job(
        &env,
        "deep.js",
        "export default [(state) => { let o = { leaf: true }; \
         for (let i = 0; i < 5000; i++) o = { a: o }; \
         return { data: o, configuration: { password: 'x' } }; }];\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(!written.is_empty(), "the output file is empty");
    // `configuration` is dropped at the top level, the rest is there to the last level.
    assert!(
        written == expected_output(5000),
        "the output is not the whole state"
    );
}

#[test]
fn a_state_too_deep_to_serialise_fails_the_step() {
    let env = Env::new();
    let (out, output) = run_job(
        &env,
        "deeper.js",
        "export default [(state) => { let o = {}; \
         for (let i = 0; i < 200000; i++) o = { a: o }; return { data: o }; }];\n",
    );
    let err = format!("{}{}", common::stdout(&out), stderr(&out));
    // a failed step is not a crash: the CLI exits 0, as for any step that fails
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("Maximum call stack size exceeded"),
        "no typed error: {err}"
    );
    // Not a success with the data gone: the step's error is in the state.
    let written = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(written.contains("\"errors\""), "{written}");
}

fn deep_jobs() -> Vec<(&'static str, String)> {
    let n = 100_000;
    let rep = |s: &str| s.repeat(n);
    vec![
        ("prefix ++", format!("{}x;", rep("++"))),
        ("if (1)", format!("{}x;", rep("if (1) "))),
        ("labels", format!("{}x;", rep("a: "))),
        ("while (0)", format!("{}x;", rep("while (0) "))),
        ("optional chain", format!("x{};", rep("?.a"))),
        ("do", format!("{}x;{}", rep("do "), rep(" while (0);"))),
        ("arrow bodies", format!("{}x;", rep("() => "))),
        ("tagged templates", format!("f{};", rep("``"))),
        (
            "class bodies",
            format!("{}{};", rep("class A { m() { "), rep("} }")),
        ),
    ]
}

#[test]
fn openfn_compile_rejects_deep_nesting_cleanly() {
    let env = Env::new();
    for (name, src) in deep_jobs() {
        let job = env.path().join("deep-compile.js");
        std::fs::write(&job, src).unwrap();
        let out = env.openfn().arg("compile").arg(&job).output().unwrap();
        // the kit prints its compile-error block on stdout
        let err = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("Maximum nesting depth exceeded"),
            "{name}: {err}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("overflow"),
            "{name}: {err}"
        );
    }
}

#[test]
fn running_deeply_nested_code_fails_the_run_cleanly() {
    let env = Env::new();
    for (name, src) in deep_jobs().into_iter().take(4) {
        let job = env.path().join("deep-run.js");
        std::fs::write(&job, src).unwrap();
        let out = env.openfn().arg(&job).output().unwrap();
        let err = format!("{}{}", common::stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("Maximum nesting depth exceeded"),
            "{name}: {err}"
        );
        assert!(
            !err.contains("ExitError"),
            "{name}: the engine child died: {err}"
        );
    }
}
