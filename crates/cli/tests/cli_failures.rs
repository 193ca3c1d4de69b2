//! Failures through the binary: install errors by kind (not in the registry with "did you
//! mean", no such version with the nearest ones, registry unreachable), each once on stderr;
//! compile errors as diagnostics naming the file; usage errors exit 2, failures 1.

mod common;

use common::registry::fake_registry;
use common::{Env, stderr, stdout};

/// `fn(s => s);` with adaptor `adaptor` and `-O` (plus `extra`), installing from `registry`.
fn run_job(env: &Env, registry: &str, adaptor: &str, extra: &[&str]) -> std::process::Output {
    let job = env.path().join("job.js");
    std::fs::write(&job, "fn(s => s);").unwrap();
    env.openfn()
        .arg(&job)
        .args(["-a", adaptor, "-O"])
        .args(extra)
        .env("NPM_CONFIG_REGISTRY", registry)
        .output()
        .unwrap()
}

/// The one error line on stderr (the only line with `Error:`), after checking exit 1.
fn one_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let err = stderr(out);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("rror")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(stdout(out).is_empty(), "nothing on stdout: {}", stdout(out));
    errors[0].to_owned()
}

#[test]
fn a_misspelt_adaptor_is_not_in_the_registry_and_gets_a_suggestion() {
    let env = Env::new();
    let line = one_error(&run_job(&env, &fake_registry(), "commmon", &[]));
    assert!(
        line.contains("cannot install @openfn/language-commmon: package @openfn/language-commmon not found in the registry"),
        "{line}"
    );
    assert!(line.contains("did you mean common"), "{line}");
    assert!(line.contains("hint: check the adaptor's name"), "{line}");
}

#[test]
fn a_missing_version_lists_the_nearest_ones() {
    let env = Env::new();
    let line = one_error(&run_job(&env, &fake_registry(), "common@1.0.5", &[]));
    assert!(
        line.contains("no version of @openfn/language-common matches \"1.0.5\"; nearest published versions: 1.0.0, 1.1.0, 2.0.0"),
        "{line}"
    );
    assert!(
        line.contains("hint: pick one of the published versions"),
        "{line}"
    );
}

#[test]
fn an_unreachable_registry_says_so() {
    let env = Env::new();
    let line = one_error(&run_job(&env, "http://127.0.0.1:9/", "common@1.0.0", &[]));
    assert!(line.contains("registry unreachable"), "{line}");
    assert!(line.contains("hint: check the network"), "{line}");
}

#[test]
fn a_compile_error_names_the_file_and_points_at_the_source() {
    let env = Env::new();
    let job = env.path().join("bad.js");
    std::fs::write(&job, "fn(s => s);\nfn(s => {").unwrap();
    let adaptor = format!("common={}", common::fixture_common().display());
    for args in [vec!["-O"], vec!["compile"]] {
        let mut cmd = env.openfn();
        if args[0] == "compile" {
            cmd.arg("compile").arg(&job);
        } else {
            cmd.arg(&job).args(&args);
        }
        let out = cmd.args(["-a", &adaptor]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("error: Unexpected token"), "{err}");
        assert!(err.contains(&format!("--> {}:2:", job.display())), "{err}");
        assert!(err.contains("2 | fn(s => {"), "{err}");
        assert!(!stdout(&out).contains("Critical error"), "{}", stdout(&out));
    }
}

#[test]
fn usage_errors_exit_2_and_failures_1() {
    let env = Env::new();
    let ex = env.examples();
    let out = env.openfn().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .openfn()
        .arg(ex.join("hello.js"))
        .args(["-a", "common", "--start", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("need a workflow"));
    let out = env.openfn().args(["test", "-l", "loud"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("expected none, debug, info or default"));
    let out = env
        .openfn()
        .args(["nope.js", "-a", "common"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn an_install_that_fetches_prints_one_line_with_packages_and_bytes() {
    let env = Env::new();
    let registry = fake_registry();
    let out = env
        .openfn()
        .args(["repo", "install", "common@1.0.0"])
        .env("NPM_CONFIG_REGISTRY", &registry)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("Installed @openfn/language-common@1.0.0"))
        .unwrap_or_else(|| panic!("one line per install: {text}"));
    assert!(line.contains("(1 packages, "), "{line}");
    assert!(line.contains(" B) in "), "{line}");
    // not a terminal: no progress bar drawn
    assert!(!stderr(&out).contains("packages"), "{}", stderr(&out));

    // installed already: no fetch, no line; a job runs with it
    let out = env
        .openfn()
        .args(["repo", "install", "common@1.0.0"])
        .env("NPM_CONFIG_REGISTRY", &registry)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("@openfn/language-common@1.0.0 is installed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn with_log_json_the_error_is_a_json_line_too() {
    let env = Env::new();
    let out = run_job(&env, "http://127.0.0.1:9/", "common@1.0.0", &["--log-json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let last = lines.last().expect("lines");
    assert_eq!(last["level"], "error");
    assert!(
        last["message"][0]
            .as_str()
            .is_some_and(|m| m.contains("registry unreachable")),
        "{last}"
    );
}

/// On a terminal (a pty from util-linux `script`), an install draws its progress (a spinner,
/// then a bar of packages, redrawn in place) below the `Installing packages` line, and ends
/// with the one summary line.
#[test]
fn on_a_terminal_an_install_draws_progress_below_its_log_line() {
    let env = Env::new();
    let registry = fake_registry();
    let openfn = assert_cmd::cargo::cargo_bin("openfn");
    let command = format!("{} repo install common@1.0.0", openfn.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", env.path())
        .env("OPENFN_REPO_DIR", env.path().join("repo"))
        .env("NPM_CONFIG_REGISTRY", &registry)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .output()
        .expect("util-linux script runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let (before, after) = text
        .split_once("Installing packages into ")
        .unwrap_or_else(|| panic!("the log line: {text:?}"));
    assert!(
        {
            let row_start = before.trim_end_matches("[CLI] ♦ ");
            row_start.is_empty() || row_start.ends_with('\n')
        },
        "the log line starts its own row: {text:?}"
    );
    assert!(
        after.contains("resolving") || after.contains(" packages"),
        "progress drawn: {text:?}"
    );
    assert!(after.contains("\u{1b}[2K"), "redrawn in place: {text:?}");
    assert!(
        after.contains("Installed @openfn/language-common@1.0.0 (1 packages, "),
        "{text:?}"
    );
}
