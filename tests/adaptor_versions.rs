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
