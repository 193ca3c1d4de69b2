//! `ws-worker --help` through the binary: its text is snapshotted (so a changed default or a
//! new flag shows up in review), every option names its env var and default in clap's form,
//! and the README's worker configuration table lists exactly the env vars the help shows.

use std::collections::BTreeSet;
use std::process::Command;

fn help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ws-worker"))
        .arg("--help")
        .env_remove("COLUMNS")
        .output()
        .expect("ws-worker runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// Env var names in `[env: NAME]` tags (wrapped lines joined) and in the help's
/// "Environment (no flag):" section.
fn help_env_vars(help: &str) -> BTreeSet<String> {
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut vars: BTreeSet<String> = flat
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .map(str::to_string)
        .collect();
    let section = help
        .split("Environment (no flag):")
        .nth(1)
        .expect("an environment section");
    for line in section.lines().skip(1) {
        if line.trim().is_empty() {
            break;
        }
        vars.insert(line.split_whitespace().next().expect("a name").to_string());
    }
    vars
}

/// The env column (backticked upper-case names) of the table under the README's
/// "### Worker configuration" heading.
fn readme_env_vars() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let section = readme
        .split("### Worker configuration")
        .nth(1)
        .expect("a worker configuration section in README.md");
    let mut vars = BTreeSet::new();
    for row in section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
    {
        let env = row.split('|').nth(2).expect("an env column");
        for (i, part) in env.split('`').enumerate() {
            let is_name = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if i % 2 == 1 && is_name {
                vars.insert(part.to_string());
            }
        }
    }
    vars
}

#[test]
fn help_is_in_clap_style_with_every_default() {
    let help = help();
    insta::assert_snapshot!(help);
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "[env: WORKER_LIGHTNING_SERVICE_URL] [default: ws://localhost:4000/worker]",
        "[env: WORKER_REPO_DIR] [default: ~/.openfn/worker/repo]",
        "[env: WORKER_PORT] [default: 2222]",
        "--batch-logs [<BOOL>]",
        "--profile [<BOOL>]",
        "[possible values: none, error, warn, default, success, info, debug, trace]",
        "Examples:",
    ] {
        assert!(flat.contains(needle), "no {needle:?} in\n{help}");
    }
    // Every option that takes a value says where else it comes from.
    for (option, text) in options(&help) {
        let own = ["--help", "--version"].iter().any(|f| option.contains(f));
        if option.contains('<') && !own {
            assert!(text.contains("[env: "), "no env var for {option}: {text}");
        }
    }
}

/// The options of the help: each option line (`-p, --port <PORT>`) with its description
/// (the indented lines below it, joined).
fn options(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let section = help
        .split("Options:")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .expect("an options section");
    for line in section.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('-') && indent <= 6 {
            out.push((trimmed.to_string(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    assert!(out.len() > 40, "{out:?}");
    out
}

#[test]
fn readme_lists_the_env_vars_the_help_shows() {
    let help = help_env_vars(&help());
    let readme = readme_env_vars();
    assert!(help.len() > 40, "{help:?}");
    let missing: Vec<_> = help.difference(&readme).collect();
    let extra: Vec<_> = readme.difference(&help).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "README's worker configuration table lacks {missing:?} and has {extra:?} that --help does not show"
    );
}
