//! The result of each scenario as a table row, the pass/fail table, and what is kept of a
//! failed scenario (its problems and the paths of its process logs).

use std::path::PathBuf;

/// The first worker's resident set size in kB: after the warm-up run, at its peak (the
/// process' high-water mark) and after the scenario (`None` when the worker was stopped).
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    pub before: u64,
    pub peak: u64,
    pub after: Option<u64>,
}

/// One scenario's figures.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub name: String,
    /// Runs enqueued, completed with the expected reason and record, completed otherwise,
    /// never completed, executed more than once.
    pub enqueued: usize,
    pub ok: usize,
    pub wrong: usize,
    pub lost: usize,
    pub dup: usize,
    /// Worker processes that exited when they should not have.
    pub crashes: usize,
    pub rss: Option<Rss>,
    /// Why the scenario failed (empty: it passed).
    pub problems: Vec<String>,
    /// Extra figures (soak RSS and fds, timings).
    pub notes: Vec<String>,
    /// The known bug this scenario shows until it is fixed.
    pub known: Option<&'static str>,
    pub secs: f64,
    /// The scenario's log directory.
    pub logs: Option<PathBuf>,
}

impl Row {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Records why the scenario fails.
    pub fn problem(&mut self, what: String) {
        self.problems.push(what);
    }

    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

/// The table header.
pub const HEADER: [&str; 11] = [
    "scenario",
    "runs",
    "ok",
    "wrong",
    "lost",
    "dup",
    "crash",
    "rss before",
    "peak",
    "after",
    "result",
];

fn cells(row: &Row) -> [String; 11] {
    let (before, peak, after) = match &row.rss {
        Some(r) => (
            mb(r.before),
            mb(r.peak),
            r.after.map_or_else(|| "-".to_owned(), mb),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let result = if row.passed() { "pass" } else { "FAIL" };
    [
        row.name.clone(),
        row.enqueued.to_string(),
        row.ok.to_string(),
        row.wrong.to_string(),
        row.lost.to_string(),
        row.dup.to_string(),
        row.crashes.to_string(),
        before,
        peak,
        after,
        format!("{result} ({:.0}s)", row.secs),
    ]
}

/// The rows as an aligned text table (RSS in MB).
pub fn table(rows: &[Row]) -> String {
    let body: Vec<[String; 11]> = rows.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for r in &body {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cols: &[String]| {
        cols.iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = line(&HEADER.map(str::to_owned));
    out.push('\n');
    for r in &body {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// The same table in Markdown, for docs/reliability.md.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out.push_str(&format!("|{}\n", " --- |".repeat(HEADER.len())));
    for row in rows {
        let mut c = cells(row);
        if !row.passed()
            && let Some(k) = row.known
        {
            c[10] = format!("{} — known: {k}", c[10]);
        }
        out.push_str(&format!("| {} |\n", c.join(" | ")));
    }
    out
}

/// The problems and notes of every row, and for failed rows where their logs are.
pub fn details(rows: &[Row]) -> String {
    let mut out = String::new();
    for row in rows {
        if row.notes.is_empty() && row.passed() {
            continue;
        }
        out.push_str(&format!("-- {}\n", row.name));
        for n in &row.notes {
            out.push_str(&format!("   {n}\n"));
        }
        for p in row.problems.iter().take(8) {
            out.push_str(&format!("   FAIL: {p}\n"));
        }
        if row.problems.len() > 8 {
            out.push_str(&format!("   … and {} more\n", row.problems.len() - 8));
        }
        if !row.passed() {
            if let Some(k) = row.known {
                out.push_str(&format!("   known bug: {k}\n"));
            }
            if let Some(dir) = &row.logs {
                out.push_str(&format!("   logs: {}/*.log\n", dir.display()));
            }
        }
    }
    out
}
