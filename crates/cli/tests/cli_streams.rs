//! Output streams through the binary: with `-O` the result alone on stdout (logs on stderr),
//! `--log-json` one JSON object per line, colours only where the rule allows, and a closed
//! pipe ends the command quietly (SIGPIPE, as Unix tools), never with a panic.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::{Env, stderr, stdout};

fn workflow(env: &Env, extra: &[&str]) -> assert_cmd::Command {
    let ex = env.examples();
    let mut cmd = env.openfn();
    cmd.arg(ex.join("workflow.json"))
        .arg("-m")
        .arg(env.monorepo())
        .args(extra);
    cmd
}

#[test]
fn with_o_stdout_is_the_result_alone() {
    let env = Env::new();
    let out = workflow(&env, &["-O"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value =
        serde_json::from_str(&stdout(&out)).expect("stdout is only the result's JSON");
    assert_eq!(result["data"]["report"], "2 of 3 patients are adults");
    assert!(stderr(&out).contains("Finished in"), "{}", stderr(&out));
}

#[test]
fn log_json_prints_one_object_per_line_the_result_included() {
    let env = Env::new();
    let out = workflow(&env, &["-O", "--log-json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let result: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(result["data"]["report"], "2 of 3 patients are adults");
    let logs = stderr(&out);
    assert!(logs.lines().count() > 3, "{logs}");
    for line in logs.lines() {
        let log: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            log["level"].is_string() && log["message"].is_array(),
            "{line}"
        );
    }
}

#[test]
fn colours_follow_no_color_and_clicolor_force() {
    let env = Env::new();
    let plain = workflow(&env, &["-O"]).output().unwrap();
    assert!(!stderr(&plain).contains('\u{1b}'), "{}", stderr(&plain));
    let forced = workflow(&env, &["-O"])
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(stderr(&forced).contains("\u{1b}["), "{}", stderr(&forced));
    // the result stays plain JSON whatever the colours
    assert!(!stdout(&forced).contains('\u{1b}'));
    let not_a_terminal = workflow(&env, &["-O"])
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(!stderr(&not_a_terminal).contains('\u{1b}'));
    let both = workflow(&env, &["-O"])
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(!stderr(&both).contains('\u{1b}'), "NO_COLOR wins");
}

/// Runs `args` with stdout a pipe whose reader is already closed.
fn with_closed_stdout(env: &Env, args: &[&std::ffi::OsStr]) -> (std::process::ExitStatus, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("openfn"));
    cmd.env("HOME", env.path())
        .env("OPENFN_REPO_DIR", env.path().join("repo"))
        .env("NO_COLOR", "1")
        .env_remove("OPENFN_KIT_OUTPUT")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    // the reader is gone before the command starts
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer);
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // the parent's copy of the write end
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let env = Env::new();
    let ex = env.examples();
    let monorepo = env.monorepo();
    let wf = ex.join("workflow.json");
    let (status, err) = with_closed_stdout(
        &env,
        &[
            wf.as_os_str(),
            "-m".as_ref(),
            monorepo.as_os_str(),
            "-O".as_ref(),
        ],
    );
    assert_eq!(status.signal(), Some(libc_sigpipe()), "{status:?} {err}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );

    let job = ex.join("hello.js");
    let (status, err) = with_closed_stdout(
        &env,
        &[
            "compile".as_ref(),
            job.as_os_str(),
            "-a".as_ref(),
            "common".as_ref(),
        ],
    );
    assert_eq!(status.signal(), Some(libc_sigpipe()), "{status:?} {err}");
    assert!(!err.contains("panicked"), "{err}");

    // without -O the logs are on stdout: the first log line meets the closed pipe
    let (status, err) = with_closed_stdout(&env, &["version".as_ref()]);
    assert_eq!(status.signal(), Some(libc_sigpipe()), "{status:?} {err}");
}

#[test]
fn piping_into_head_gives_the_first_line_and_no_panic() {
    let env = Env::new();
    let ex = env.examples();
    let openfn = assert_cmd::cargo::cargo_bin("openfn");
    let script = format!(
        "{} {} -m {} -O 2>{} | head -1",
        openfn.display(),
        ex.join("workflow.json").display(),
        env.monorepo().display(),
        env.path().join("err.txt").display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("HOME", env.path())
        .env("OPENFN_REPO_DIR", env.path().join("repo"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "{\n");
    let err = std::fs::read_to_string(env.path().join("err.txt")).unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

fn libc_sigpipe() -> i32 {
    13
}
