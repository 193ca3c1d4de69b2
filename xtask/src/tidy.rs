//! Tidy checks over the source tree: every Rust module documents itself with `//!`, no test is
//! skipped with `#[ignore]`, no `dbg!` is left behind, no Rust file (sources, tests, examples,
//! xtask) is over [`MAX_FILE_LINES`] lines, and every crate takes its dependencies from
//! `[workspace.dependencies]` so each external crate is pinned once, and no crate's modules
//! import each other in a circle ([`circles`]). (The function-length rule is clippy's
//! `too_many_lines`, set in the workspace lints and `clippy.toml`.)

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub mod circles;

/// One thing tidy found wrong, with the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// The house rule's bound on a Rust file's length: a file past it is split by concern.
pub const MAX_FILE_LINES: usize = 800;

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs every check under `root` and returns what it found, sorted by path.
pub fn check(root: &Path) -> std::io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for file in files(root)? {
        let rel = file.strip_prefix(root).unwrap_or(&file).to_path_buf();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".rs") {
            let text = fs::read_to_string(&file)?;
            check_rust(&rel, &text, &mut problems);
        } else if name == "Cargo.toml" && rel != Path::new("Cargo.toml") {
            let text = fs::read_to_string(&file)?;
            check_manifest(&rel, &text, &mut problems);
        }
    }
    check_circles(root, &mut problems)?;
    problems.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    Ok(problems)
}

/// Import circles known and left for now: (crate `src`, the circle's modules, why).
const KNOWN_CIRCLES: &[(&str, &[&str], &str)] = &[];

/// Each crate's module import circles, except the known ones.
fn check_circles(root: &Path, problems: &mut Vec<Problem>) -> std::io::Result<()> {
    for src in circles::crate_sources(root) {
        let mut modules = BTreeMap::new();
        for file in files(&src)? {
            let rel = file.strip_prefix(&src).unwrap_or(&file);
            if let Some(module) = circles::module_of(rel) {
                modules.insert(module, fs::read_to_string(&file)?);
            }
        }
        let rel_src = src.strip_prefix(root).unwrap_or(&src).to_path_buf();
        for circle in circles::circles(&modules) {
            let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            let known = KNOWN_CIRCLES
                .iter()
                .any(|(dir, mods, _)| Path::new(dir) == rel_src && *mods == names.as_slice());
            if !known {
                problems.push(Problem {
                    path: rel_src.clone(),
                    line: 1,
                    message: format!(
                        "modules {} import each other in a circle: move what they share into one of them or a module of its own",
                        names.join(", ")
                    ),
                });
            }
        }
    }
    Ok(())
}

fn files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(
                        name.as_ref(),
                        // `fuzz` is a crate of its own outside the workspace (cargo-fuzz)
                        "target" | "node_modules" | "fixtures" | "snapshots" | "fuzz"
                    );
                if !skip {
                    stack.push(path);
                }
            } else {
                out.push(path);
            }
        }
    }
    Ok(out)
}

/// Whether a Rust file is a module that must carry `//!` docs: library and binary sources, not
/// integration tests, benches, examples or build scripts (their purpose is their file name).
fn needs_module_docs(rel: &Path) -> bool {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.iter().any(|p| p == "src") && !parts.iter().any(|p| p == "tests" || p == "benches")
}

fn check_rust(rel: &Path, text: &str, problems: &mut Vec<Problem>) {
    let lines = text.lines().count();
    if lines > MAX_FILE_LINES {
        problems.push(Problem {
            path: rel.to_path_buf(),
            line: MAX_FILE_LINES + 1,
            message: format!(
                "file has {lines} lines, over the house limit of {MAX_FILE_LINES}: split it by concern"
            ),
        });
    }
    if needs_module_docs(rel) {
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("#!["));
        if !first.is_some_and(|l| l.starts_with("//!")) {
            problems.push(Problem {
                path: rel.to_path_buf(),
                line: 1,
                message: "module has no `//!` docs saying what it is for".into(),
            });
        }
    }
    // Built from pieces so this file does not trip its own check.
    let ignore = concat!("#[", "ignore");
    let dbg = concat!("dbg", "!(");
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if code.contains(ignore) {
            problems.push(Problem {
                path: rel.to_path_buf(),
                line: i + 1,
                message: "skipped test: every test runs; fix or delete it".into(),
            });
        }
        if code.contains(dbg) {
            problems.push(Problem {
                path: rel.to_path_buf(),
                line: i + 1,
                message: "leftover dbg! call".into(),
            });
        }
    }
}

fn check_manifest(rel: &Path, text: &str, problems: &mut Vec<Problem>) {
    let mut in_deps = false;
    let mut in_dep_table = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            let header = line.trim_matches(|c| c == '[' || c == ']');
            let is_dep_section = |h: &str| {
                h == "dependencies"
                    || h == "dev-dependencies"
                    || h == "build-dependencies"
                    || (h.starts_with("target.") && h.ends_with("dependencies"))
            };
            in_deps = is_dep_section(header);
            // `[dependencies.foo]` tables: the table must say `workspace = true`.
            in_dep_table = header
                .rsplit_once('.')
                .is_some_and(|(section, _)| is_dep_section(section));
            if in_dep_table && !text_of_table_has_workspace(text, i) {
                problems.push(Problem {
                    path: rel.to_path_buf(),
                    line: i + 1,
                    message: format!(
                        "`{header}` must take its version from [workspace.dependencies]"
                    ),
                });
            }
            continue;
        }
        if in_deps
            && !in_dep_table
            && !line.contains("workspace = true")
            && !line.contains(".workspace=true")
        {
            let name = line.split(['=', '.']).next().unwrap_or(line).trim();
            problems.push(Problem {
                path: rel.to_path_buf(),
                line: i + 1,
                message: format!(
                    "dependency `{name}` must be declared once in [workspace.dependencies] and used with `workspace = true`"
                ),
            });
        }
    }
}

fn text_of_table_has_workspace(text: &str, header_line: usize) -> bool {
    text.lines()
        .skip(header_line + 1)
        .take_while(|l| !l.trim_start().starts_with('['))
        .any(|l| l.replace(' ', "").starts_with("workspace=true"))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn flags_a_module_without_docs_and_a_pinned_dependency() {
        let mut p = Vec::new();
        check_rust(Path::new("crates/x/src/lib.rs"), "pub fn f() {}\n", &mut p);
        check_manifest(
            Path::new("crates/x/Cargo.toml"),
            "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\ntokio.workspace = true\n",
            &mut p,
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].message.contains("//!"));
        assert!(p[1].message.contains("serde"));
    }

    #[test]
    fn flags_a_rust_file_over_the_line_limit_and_accepts_one_at_it() {
        let at_limit = format!("//! Docs.\n{}", "fn f() {}\n".repeat(MAX_FILE_LINES - 1));
        let over = format!("{at_limit}fn g() {{}}\n");
        let mut p = Vec::new();
        check_rust(Path::new("crates/x/src/lib.rs"), &at_limit, &mut p);
        assert!(p.is_empty(), "{p:?}");
        for path in [
            "crates/x/src/lib.rs",
            "crates/x/tests/t.rs",
            "xtask/src/a.rs",
        ] {
            check_rust(Path::new(path), &over, &mut p);
        }
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().all(|p| p.line == MAX_FILE_LINES + 1));
        assert!(p[0].message.contains("801 lines"), "{}", p[0].message);
    }

    #[test]
    fn accepts_documented_modules_and_workspace_dependencies() {
        let mut p = Vec::new();
        check_rust(
            Path::new("crates/x/src/lib.rs"),
            "//! Docs.\npub fn f() {}\n",
            &mut p,
        );
        check_rust(
            Path::new("crates/x/tests/t.rs"),
            "#[test]\nfn t() {}\n",
            &mut p,
        );
        check_manifest(
            Path::new("crates/x/Cargo.toml"),
            "[dependencies]\nserde = { workspace = true, features = [\"derive\"] }\n[dev-dependencies.insta]\nworkspace = true\n",
            &mut p,
        );
        assert!(p.is_empty(), "{p:?}");
    }
}
