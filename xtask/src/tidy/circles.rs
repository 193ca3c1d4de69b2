//! Module import circles inside a crate: module `a` naming `b` (`use crate::b…`, `super::b…`,
//! or a `crate::b::…` path in code) while `b` names `a`, directly or through other modules.
//! A module and its own ancestors or descendants do not count (a parent declares its children
//! and children use their parent's items). Read as text: test modules (`#[cfg(test)]` onwards)
//! and comments are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside its crate (`[]` is the crate root).
pub type ModPath = Vec<String>;

/// The module path of `rel`, a file under a crate's `src/`; `None` for `src/bin/…`.
pub fn module_of(rel: &Path) -> Option<ModPath> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.first().is_some_and(|p| p == "bin") {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(stem == "mod" || (parts.is_empty() && (stem == "lib" || stem == "main"))) {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// The circles among `modules` (module path → source text), each as its sorted module paths.
pub fn circles(modules: &BTreeMap<ModPath, String>) -> Vec<Vec<ModPath>> {
    let mut edges: BTreeMap<&ModPath, BTreeSet<&ModPath>> = BTreeMap::new();
    for (module, text) in modules {
        let targets = edges.entry(module).or_default();
        for path in named_paths(text) {
            if let Some(target) = resolve(&path, module, modules)
                && !nested(target, module)
            {
                targets.insert(target);
            }
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut c: Vec<ModPath> = c.into_iter().cloned().collect();
            c.sort();
            c
        })
        .collect()
}

/// Whether one module is the other, or an ancestor or descendant of it.
fn nested(a: &ModPath, b: &ModPath) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The code of a file without its test modules and comments.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::`, `super::` or `self::` path the code names: in `use` trees (expanded) and
/// `crate::` paths anywhere.
fn named_paths(text: &str) -> Vec<Vec<String>> {
    let code = code_of(text);
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let tree: String = rest[..end].split_whitespace().collect();
        if ["crate::", "super::", "self::"]
            .iter()
            .any(|p| tree.starts_with(p))
        {
            out.extend(expand(&tree));
        }
    }
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            out.push(segments(&rest[..len]));
        }
        rest = &rest[len.max(1)..];
    }
    out
}

fn segments(path: &str) -> Vec<String> {
    let path = path.split(" as ").next().unwrap_or(path);
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (white space already removed).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        return vec![segments(tree)];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The module a path names: its longest prefix that is a module of the crate.
fn resolve<'m>(
    path: &[String],
    here: &ModPath,
    modules: &'m BTreeMap<ModPath, String>,
) -> Option<&'m ModPath> {
    let mut full: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("super" | "self") => {
            full.clone_from(here);
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        full.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    full.extend(rest.iter().cloned());
    (0..=full.len())
        .rev()
        .find_map(|n| modules.get_key_value(&full[..n]).map(|(k, _)| k))
}

/// Tarjan's strongly connected components, iteratively.
fn strongly_connected<'a>(
    edges: &BTreeMap<&'a ModPath, BTreeSet<&'a ModPath>>,
) -> Vec<Vec<&'a ModPath>> {
    let mut index: BTreeMap<&ModPath, (usize, usize)> = BTreeMap::new();
    let mut on_stack = BTreeSet::new();
    let (mut stack, mut out, mut next) = (Vec::new(), Vec::new(), 0usize);
    for &start in edges.keys() {
        if index.contains_key(start) {
            continue;
        }
        let mut work: Vec<(&ModPath, Vec<&ModPath>)> = Vec::new();
        index.insert(start, (next, next));
        next += 1;
        stack.push(start);
        on_stack.insert(start);
        work.push((start, edges[start].iter().copied().collect()));
        while let Some((v, todo)) = work.last_mut() {
            let v = *v;
            if let Some(w) = todo.pop() {
                if !index.contains_key(w) {
                    index.insert(w, (next, next));
                    next += 1;
                    stack.push(w);
                    on_stack.insert(w);
                    let succ = edges.get(w).map(|s| s.iter().copied().collect());
                    work.push((w, succ.unwrap_or_default()));
                } else if on_stack.contains(w) {
                    let low = index[v].1.min(index[w].0);
                    index.entry(v).and_modify(|e| e.1 = low);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                let low = index[*parent].1.min(index[v].1);
                index.entry(*parent).and_modify(|e| e.1 = low);
            }
            if index[v].0 == index[v].1 {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(w);
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(component);
            }
        }
    }
    out
}

/// The `src` folders of the workspace's crates under `root`.
pub fn crate_sources(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = ["lightning-mock/src", "xtask/src"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        out.extend(entries.flatten().map(|e| e.path().join("src")));
    }
    out.retain(|p| p.is_dir());
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_of(files: &[(&str, &str)]) -> BTreeMap<ModPath, String> {
        files
            .iter()
            .filter_map(|(path, text)| Some((module_of(Path::new(path))?, (*text).to_owned())))
            .collect()
    }

    #[test]
    fn finds_a_circle_through_use_and_paths_but_not_parent_and_child() {
        let modules = crate_of(&[
            ("lib.rs", "mod a; mod b; mod c; mod p;"),
            ("a.rs", "use crate::{b::B, x};\n"),
            ("b.rs", "fn f() { crate::c::g() }\n"),
            ("c.rs", "use super::a::A; // crate::p\n"),
            ("p/mod.rs", "use self::child::C;\n"),
            (
                "p/child.rs",
                "use super::P;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
            ),
            ("bin/tool.rs", "use crate::a;\n"),
        ]);
        let a = vec!["a".to_owned()];
        let b = vec!["b".to_owned()];
        let c = vec!["c".to_owned()];
        assert_eq!(circles(&modules), vec![vec![a, b, c]]);
    }

    #[test]
    fn modules_without_circles_pass() {
        let modules = crate_of(&[
            ("main.rs", "use crate::a::A; use crate::b::B;"),
            ("a.rs", "use crate::b::B;"),
            ("b/mod.rs", "use super::B as _;"),
        ]);
        assert!(circles(&modules).is_empty());
        assert_eq!(module_of(Path::new("x/mod.rs")), Some(vec!["x".to_owned()]));
        assert_eq!(module_of(Path::new("lib.rs")), Some(vec![]));
    }
}
