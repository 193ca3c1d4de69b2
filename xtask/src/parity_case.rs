//! The parity corpus (`tests/parity/<case>/`): loading cases, running one CLI on a case,
//! normalising what it printed and wrote, and comparing two outcomes.
//!
//! Shared by `cargo xtask parity` (both CLIs) and `crates/cli/tests/cli_parity.rs` (ours
//! against the recorded kit fixtures), which includes this file by path; so it uses only `std`
//! and `serde_json`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openfn_lexicon::term::strip_ansi;
use serde_json::{Value, json};

/// The fixture file of the kit's outcome in each case folder.
pub const FIXTURE: &str = "kit.json";
/// The corpus' list of differences not fixed yet (`<case> <field>  # reason`).
pub const KNOWN: &str = "KNOWN_DIFFERENCES";
/// Files of a case folder that are not part of the job.
const META: [&str; 2] = ["args", FIXTURE];
/// A case that runs longer is killed (and reported with exit code -1).
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// One case: a folder with an `args` file (one argument per line) and the job's files.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
}

/// What a CLI did on a case, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub exit: i32,
    /// Every line it printed, stdout and stderr alike, in the order it wrote them (both streams
    /// go to one file): the lines a user reads, whichever stream carries them.
    pub output: Vec<String>,
    /// Files the run created in the case folder (path relative to it → JSON or text).
    pub files: BTreeMap<String, Value>,
}

/// One field of a case that differs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Difference {
    pub case: String,
    /// `exit`, `output` or `file:<path>`.
    pub field: String,
    /// Human-readable detail (kit lines `-`, ours `+`).
    pub detail: String,
}

/// Every case folder under `root` (sorted), optionally only those whose name contains `filter`.
pub fn load_cases(root: &Path, filter: Option<&str>) -> io::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (name, dir) in case_dirs(root, "args", filter)? {
        let args = std::fs::read_to_string(dir.join("args"))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        cases.push(Case { name, dir, args });
    }
    Ok(cases)
}

/// The folders under `root` that hold a file `marker`, as (name, folder) sorted by name,
/// optionally only those whose name contains `filter`: the case folders of a corpus.
pub fn case_dirs(
    root: &Path,
    marker: &str,
    filter: Option<&str>,
) -> io::Result<Vec<(String, PathBuf)>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let dir = entry?.path();
        if !dir.join(marker).is_file() {
            continue;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        dirs.push((name, dir));
    }
    dirs.sort();
    Ok(dirs)
}

/// Runs `program` (e.g. `["node", "…/index.js"]` or `["…/openfn"]`) on a copy of the case under
/// `work_root`, with `repo_dir` as the adaptor repo, and returns the normalised outcome. Paths
/// in `tags` (e.g. the kit's checkout) are replaced by their tag in what it printed.
pub fn run_case(
    case: &Case,
    program: &[String],
    repo_dir: &Path,
    work_root: &Path,
    tags: &[(PathBuf, &'static str)],
) -> io::Result<Outcome> {
    let (exe, pre) = program
        .split_first()
        .ok_or_else(|| io::Error::other("empty program"))?;
    let work = work_root.join(&case.name);
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    copy_case(&case.dir, &work)?;
    let before = list_files(&work)?;
    let out_path = work.join(".parity-output");
    let out_file = std::fs::File::create(&out_path)?;
    let mut child = Command::new(exe)
        .args(pre)
        .args(&case.args)
        .current_dir(&work)
        .env("OPENFN_REPO_DIR", repo_dir)
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0")
        // our CLI in the kit's layout (everything on stdout); the kit ignores it
        .env("OPENFN_KIT_OUTPUT", "1")
        .env_remove("OPENFN_LOG_JSON")
        .env_remove("OPENFN_ADAPTORS_REPO")
        .env_remove("OPENFN_ALWAYS_CACHE_STEPS")
        .stdin(Stdio::null())
        .stderr(out_file.try_clone()?)
        .stdout(out_file)
        .spawn()?;
    let started = Instant::now();
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let norm = Normaliser::new(&work, repo_dir, tags);
    let text = String::from_utf8_lossy(&std::fs::read(&out_path)?).into_owned();
    let output = text
        .lines()
        .map(|l| norm.line(l))
        .filter(|l| !is_kit_frame(l))
        .collect();
    let mut files = BTreeMap::new();
    for path in list_files(&work)?.difference(&before) {
        if path.starts_with(".parity-") {
            continue;
        }
        let bytes = std::fs::read(work.join(path))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(v) => norm.value(v),
            Err(_) => Value::String(norm.text(&text)),
        };
        files.insert(path.clone(), value);
    }
    Ok(Outcome {
        exit,
        output,
        files,
    })
}

fn copy_case(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if META.iter().any(|m| name == *m) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_case(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

/// Files under `dir`, as `/`-separated paths relative to it.
fn list_files(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                found.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(found)
}

/// Replaces what differs between runs and machines, and nothing else: colours, durations
/// (`in 472ms`, `in 5.198s`), the node and CLI versions, the JSON logger's `time`, and the
/// case's and the repo's temp paths.
struct Normaliser {
    paths: Vec<(String, &'static str)>,
}

impl Normaliser {
    fn new(work: &Path, repo: &Path, tags: &[(PathBuf, &'static str)]) -> Self {
        let mut paths = Vec::new();
        let fixed = [(work, "<dir>"), (repo, "<repo>")];
        let extra = tags.iter().map(|(p, t)| (p.as_path(), *t));
        for (p, tag) in fixed.into_iter().chain(extra) {
            if let Ok(real) = p.canonicalize() {
                paths.push((real.to_string_lossy().into_owned(), tag));
            }
            paths.push((p.to_string_lossy().into_owned(), tag));
        }
        // Longest first, so a path inside another is replaced as a whole.
        paths.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Normaliser { paths }
    }

    fn text(&self, text: &str) -> String {
        let mut out = strip_ansi(text);
        for (p, tag) in &self.paths {
            out = out.replace(p.as_str(), tag);
        }
        memory_figures(&durations(&out))
    }

    fn line(&self, line: &str) -> String {
        let text = self.text(line);
        if text.starts_with('{')
            && let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(&text)
        {
            if obj.contains_key("time") {
                obj.insert("time".into(), json!("<time>"));
            }
            let value = self.value(Value::Object(obj));
            return version_line(&value.to_string());
        }
        version_line(&text)
    }

    fn value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(version_line(&self.text(&s))),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(obj) => Value::Object(
                obj.into_iter()
                    .map(|(k, v)| {
                        // the JSON versions block: `{"versions": {"node.js": …, "cli": …}}`
                        let v = match (k.as_str(), v) {
                            ("versions", Value::Object(mut versions)) => {
                                for key in ["node.js", "cli"] {
                                    if let Some(v) = versions.get_mut(key) {
                                        *v = json!("<v>");
                                    }
                                }
                                Value::Object(versions)
                            }
                            (_, v) => self.value(v),
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            other => other,
        }
    }
}

/// `in 472ms` / `in 5.198s` / `in 1m 2.3s` / `(436ms)` → `in <T>` / `(<T>)`.
pub fn durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, len)) = [("in ", 3), ("(", 1)]
        .iter()
        .filter_map(|(p, len)| rest.find(p).map(|at| (at, *len)))
        .min()
    {
        out.push_str(&rest[..at + len]);
        rest = &rest[at + len..];
        if let Some(len) = duration_len(rest) {
            out.push_str("<T>");
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Length of a duration (`12ms`, `1.5s`, `2m 3s`) at the start of `text`, if there is one.
fn duration_len(text: &str) -> Option<usize> {
    let mut len = 0;
    let mut matched = false;
    loop {
        let digits = text[len..]
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len() - len);
        if digits == 0 {
            break;
        }
        let after = &text[len + digits..];
        let unit = ["ms", "s", "m"]
            .into_iter()
            .find(|u| after.starts_with(u) && !after[u.len()..].starts_with(char::is_alphabetic));
        let Some(unit) = unit else { break };
        len += digits + unit.len();
        matched = true;
        if text[len..].starts_with(' ') && text[len + 1..].starts_with(|c: char| c.is_ascii_digit())
        {
            len += 1;
        } else {
            break;
        }
    }
    matched.then_some(len)
}

/// The runtime's `Step memory usage: [step 58mb] [system 194mb]` figures (they differ between
/// runs as durations do, and between V8 and QuickJS heaps): each number becomes `<n>`.
fn memory_figures(text: &str) -> String {
    if !text.contains("Step memory usage: ") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inner = &rest[..close];
        match inner.rsplit_once(' ') {
            Some((label, figure))
                if ["step", "system", "peak"].contains(&label)
                    && figure.strip_suffix("mb").is_some_and(|n| {
                        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
                    }) =>
            {
                out.push_str(&format!("{label} <n>mb"));
            }
            _ => out.push_str(inner),
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

/// A stack frame in the kit's own code (`    at file://<kit>/packages/runtime/dist/…`, after
/// `async` too): node prints them after the job's and the adaptor's frames when a job logs an
/// error; they name the kit's implementation, which ours does not have, so both sides drop them.
fn is_kit_frame(line: &str) -> bool {
    let frame = line.trim_start();
    let frame = frame.strip_prefix("at ").unwrap_or("");
    let frame = frame.strip_prefix("async ").unwrap_or(frame);
    frame.starts_with("file://<kit>/") && line.starts_with(' ')
}

/// The versions block's `node.js` and `cli` rows: the version becomes `<v>`.
fn version_line(line: &str) -> String {
    let trimmed = line.trim_start();
    for name in ["▸ node.js", "▸ cli", "node.js", "cli"] {
        if let Some(rest) = trimmed.strip_prefix(name)
            && rest.starts_with("  ")
            && rest.trim().chars().all(|c| c.is_ascii_digit() || c == '.')
            && !rest.trim().is_empty()
        {
            let keep = line.len() - rest.trim_start().len();
            return format!("{}<v>", &line[..keep]);
        }
    }
    line.to_owned()
}

impl Outcome {
    /// Applies the path-free normalisations again (idempotent), so that fixtures recorded by an
    /// older normaliser compare as if recorded by this one.
    pub fn renormalised(&self) -> Outcome {
        let norm = Normaliser { paths: Vec::new() };
        Outcome {
            exit: self.exit,
            output: self
                .output
                .iter()
                .map(|l| norm.line(l))
                .filter(|l| !is_kit_frame(l))
                .collect(),
            files: self
                .files
                .iter()
                .map(|(k, v)| (k.clone(), norm.value(v.clone())))
                .collect(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "exit": self.exit,
            "output": self.output,
            "files": self.files,
        })
    }

    pub fn from_json(value: &Value) -> Option<Outcome> {
        let lines = |key: &str| -> Option<Vec<String>> {
            value
                .get(key)?
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let files = value
            .get("files")?
            .as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Some(Outcome {
            exit: i32::try_from(value.get("exit")?.as_i64()?).ok()?,
            output: lines("output")?,
            files,
        })
    }
}

/// Every field of `case` where `ours` differs from `kit`.
pub fn compare(case: &str, kit: &Outcome, ours: &Outcome) -> Vec<Difference> {
    let (kit, ours) = (&kit.renormalised(), &ours.renormalised());
    let mut diffs = Vec::new();
    let mut push = |field: String, detail: String| {
        diffs.push(Difference {
            case: case.to_owned(),
            field,
            detail,
        });
    };
    if kit.exit != ours.exit {
        push(
            "exit".into(),
            format!("kit {} ours {}", kit.exit, ours.exit),
        );
    }
    if kit.output != ours.output {
        push("output".into(), line_diff(&kit.output, &ours.output));
    }
    let names: BTreeSet<&String> = kit.files.keys().chain(ours.files.keys()).collect();
    for name in names {
        let (k, o) = (kit.files.get(name), ours.files.get(name));
        if k != o {
            let show = |v: Option<&Value>| -> Vec<String> {
                match v {
                    None => vec!["(no file)".into()],
                    Some(Value::String(s)) => s.lines().map(str::to_owned).collect(),
                    Some(v) => serde_json::to_string_pretty(v)
                        .unwrap_or_default()
                        .lines()
                        .map(str::to_owned)
                        .collect(),
                }
            };
            push(format!("file:{name}"), line_diff(&show(k), &show(o)));
        }
    }
    diffs
}

/// A unified-style diff of two line lists (`-` kit only, `+` ours only, ` ` both).
pub fn line_diff(kit: &[String], ours: &[String]) -> String {
    let (n, m) = (kit.len(), ours.len());
    // lcs[i][j]: length of the longest common subsequence of kit[i..] and ours[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if kit[i] == ours[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && kit[i] == ours[j] {
            out.push(format!("  {}", kit[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", ours[j]));
            j += 1;
        } else {
            out.push(format!("- {}", kit[i]));
            i += 1;
        }
    }
    out.join("\n")
}

/// Parses `KNOWN_DIFFERENCES`: `<case> <field>  # reason` per line; `#` lines are comments.
/// Returns `(case, field)` pairs; an entry without a reason is an error.
pub fn parse_known(text: &str) -> Result<BTreeSet<(String, String)>, String> {
    let mut known = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (entry, reason) = line.split_once('#').unwrap_or((line, ""));
        let mut words = entry.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(case), Some(field), None) if !reason.trim().is_empty() => {
                known.insert((case.to_owned(), field.to_owned()));
            }
            _ => {
                return Err(format!(
                    "{KNOWN}:{}: expected `<case> <field>  # reason`, got `{line}`",
                    n + 1
                ));
            }
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_versions_are_normalised() {
        assert_eq!(
            durations("[R/T] ✔ job-1 completed in 472ms"),
            "[R/T] ✔ job-1 completed in <T>"
        );
        assert_eq!(durations("Finished in 5.198s ✨"), "Finished in <T> ✨");
        assert_eq!(durations("in 1m 2.5s!"), "in <T>!");
        assert_eq!(durations("running in memory"), "running in memory");
        assert_eq!(
            durations("job aborted with error (436ms)"),
            "job aborted with error (<T>)"
        );
        assert_eq!(durations("f(1, 2)"), "f(1, 2)");
        assert_eq!(
            version_line("         ▸ node.js                    20.20.2"),
            "         ▸ node.js                    <v>"
        );
        assert_eq!(
            version_line("         ▸ @openfn/language-common    3.3.4"),
            "         ▸ @openfn/language-common    3.3.4"
        );
        assert_eq!(strip_ansi("\u{1b}[32m✔\u{1b}[39m ok"), "✔ ok");
        assert_eq!(
            memory_figures("[R/T] ❯ Step memory usage: [step 58mb] [system 194mb]"),
            "[R/T] ❯ Step memory usage: [step <n>mb] [system <n>mb]"
        );
        assert_eq!(memory_figures("[JOB] ℹ [step 5mb]"), "[JOB] ℹ [step 5mb]");
        assert!(is_kit_frame(
            "    at async file://<kit>/packages/runtime/dist/index.js:677:22"
        ));
        assert!(is_kit_frame(
            "    at file://<kit>/packages/runtime/dist/index.js:7:2"
        ));
        assert!(!is_kit_frame(
            "    at file://<repo>/node_modules/@openfn/language-common_3.3.4/dist/index.js:531:12"
        ));
        assert!(!is_kit_frame("at file://<kit>/x.js:1:1"));
    }

    #[test]
    fn diff_marks_each_side() {
        let a: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let b: Vec<String> = ["x", "q", "z"].map(String::from).to_vec();
        assert_eq!(line_diff(&a, &b), "  x\n+ q\n- y\n  z");
    }

    #[test]
    fn known_entries_need_a_reason() {
        assert!(parse_known("a stdout  # why\n# comment\n").is_ok());
        assert!(parse_known("a stdout\n").is_err());
    }
}
