//! The exact adaptor versions the tests install, read from `tests/adaptor-versions` (the one
//! place they are set). Included by path from each crate's tests:
//! `#[path = "../../../tests/adaptor_versions.rs"] mod adaptor_versions;`

#![allow(dead_code, reason = "each includer uses a different subset")]

/// The file's text.
pub const FILE: &str = include_str!("adaptor-versions");

pub const COMMON: &str = "@openfn/language-common";
pub const HTTP: &str = "@openfn/language-http";
pub const COLLECTIONS: &str = "@openfn/language-collections";

/// The pinned version of `name` (e.g. `3.3.4` for `@openfn/language-common`).
pub fn version(name: &str) -> &'static str {
    FILE.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let (n, v) = l.rsplit_once('@')?;
            (n == name).then_some(v)
        })
        .unwrap_or_else(|| panic!("{name} is not pinned in tests/adaptor-versions"))
}

/// `name@version`, pinned.
pub fn spec(name: &str) -> String {
    format!("{name}@{}", version(name))
}

/// `npm install <specs>` into `base`: into a staging folder of this process beside it first,
/// then renamed into place, so that test processes racing for the same `base` never see a
/// half-installed tree (one that loses the race drops its copy). Panics when npm is missing or
/// fails.
pub fn npm_install(base: &std::path::Path, specs: &[String]) {
    let name = base.file_name().map(|n| n.to_string_lossy().into_owned());
    let staging = base.with_file_name(format!(
        "{}.staging.{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create the npm staging folder");
    let status = std::process::Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(&staging)
        .args(specs)
        .status()
        .expect("npm must be installed to fetch the real adaptors");
    assert!(status.success(), "npm install {specs:?} failed");
    if std::fs::rename(&staging, base).is_err() {
        // Another test process won the race.
        let _ = std::fs::remove_dir_all(&staging);
    }
}
