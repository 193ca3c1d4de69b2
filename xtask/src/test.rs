//! `cargo xtask test [nextest args…]`: the README's test command. Runs `cargo nextest run
//! --workspace` with the given arguments, installing `cargo-nextest` from crates.io first when it
//! is missing, so a fresh machine with only Rust, node and python needs nothing else. Without a
//! Chromium the dashboard's browser test cannot run: outside CI it is skipped with a line saying
//! so (`MOCK_DASHBOARD_BROWSER=skip`); under `CI` it is not, and the test fails.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Whether `cargo <sub> --version` runs: the cargo plugin is installed.
fn has_cargo_plugin(sub: &str) -> bool {
    Command::new("cargo")
        .args([sub, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether one of the browsers the dashboard test drives is on `PATH`.
fn has_browser() -> bool {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .any(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The environment for the test run: what to set, and why (printed).
fn environment(
    ci: bool,
    browser: bool,
    preset: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    if browser || ci || preset.is_some() {
        return None;
    }
    Some(("MOCK_DASHBOARD_BROWSER", "skip"))
}

pub fn run(args: &[String]) -> Result<()> {
    if !has_cargo_plugin("nextest") {
        eprintln!(
            "xtask test: cargo-nextest is not installed; installing it (cargo install cargo-nextest --locked)"
        );
        let status = Command::new("cargo")
            .args(["install", "cargo-nextest", "--locked"])
            .status()
            .context("running cargo install")?;
        if !status.success() {
            bail!(
                "installing cargo-nextest failed ({status}); install it by hand: cargo install cargo-nextest --locked"
            );
        }
    }
    let mut cmd = Command::new("cargo");
    cmd.args(["nextest", "run", "--workspace"]).args(args);
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let preset = std::env::var("MOCK_DASHBOARD_BROWSER").ok();
    if let Some((key, value)) = environment(ci, has_browser(), preset.as_deref()) {
        eprintln!(
            "xtask test: no chromium on PATH: the dashboard's browser test is skipped \
             (apt-get install chromium to run it)"
        );
        cmd.env(key, value);
    }
    let status = cmd.status().context("running cargo nextest")?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::environment;

    #[test]
    fn the_browser_test_is_skipped_only_outside_ci_without_a_browser() {
        assert_eq!(
            environment(false, false, None),
            Some(("MOCK_DASHBOARD_BROWSER", "skip"))
        );
        assert_eq!(environment(true, false, None), None);
        assert_eq!(environment(false, true, None), None);
        assert_eq!(environment(false, false, Some("run")), None);
    }
}
