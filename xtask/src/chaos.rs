//! `cargo xtask chaos [--short] [--debug] [--filter <substr>]… [--keep-logs]`: the
//! fault-injection suite. Builds `ws-worker`, `lightning-mock` and `openfn` (release unless
//! `--debug`), starts the mock and workers as real processes on loopback, injects faults
//! (the mock's `/faults`, signals, memory and time limits, huge payloads, load) and checks
//! that no run is lost or executed twice, that every run ends with the reason it should, that
//! the worker survives, and that its RSS comes back. Prints a table and exits non-zero when a
//! scenario fails, keeping the failed scenarios' process logs.
//!
//! Modules: `harness` (processes, `/proc`), `devapi` (the mock's dev API), `events` (the mock's
//! event stream), `jobs` (the plans), `stack` (one scenario's processes, runs and verdict),
//! `net`, `limits` and `fleet` (the scenarios), `report` (the table).

pub(crate) mod devapi;
pub(crate) mod events;
pub(crate) mod fleet;
pub(crate) mod harness;
pub(crate) mod jobs;
pub(crate) mod limits;
pub(crate) mod net;
pub(crate) mod report;
pub(crate) mod stack;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use harness::Binaries;
use report::Row;

/// What every scenario gets: the binaries, where its logs go, and how big and patient to be.
pub struct Env {
    pub bins: Binaries,
    /// This invocation's log directory; each scenario writes under `<logs>/<scenario>/`.
    pub logs: PathBuf,
    /// The CI-sized subset: fewer runs, smaller soak.
    pub short: bool,
    /// Deadlines are multiplied by this (2 for debug binaries).
    pub scale: u32,
    /// How far above its baseline the worker's RSS may stay after a scenario.
    pub rss_tolerance: f64,
}

impl Env {
    /// `secs` seconds, scaled for the build.
    pub fn secs(&self, secs: u64) -> Duration {
        Duration::from_secs(secs * u64::from(self.scale))
    }

    /// `full`, or `short` in the short form.
    pub fn size(&self, full: usize, short: usize) -> usize {
        if self.short { short } else { full }
    }
}

type Fut<'a> = Pin<Box<dyn Future<Output = Result<Row>> + 'a>>;

/// One scenario: its name, whether the short form runs it, the known bug it shows until
/// fixed, and how to run it.
pub struct Scenario {
    pub name: String,
    pub in_short: bool,
    pub known: Option<&'static str>,
    pub run: Box<dyn for<'a> Fn(&'a Env) -> Fut<'a>>,
}

impl Scenario {
    /// A scenario named `name`, part of the short form when `in_short`.
    pub(crate) fn new(
        name: impl Into<String>,
        in_short: bool,
        run: impl for<'a> Fn(&'a Env) -> Fut<'a> + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            in_short,
            known: None,
            run: Box::new(run),
        }
    }

    fn known(mut self, bug: &'static str) -> Self {
        self.known = Some(bug);
        self
    }
}

/// Every scenario, in the order they run.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = net::scenarios();
    all.extend(limits::scenarios());
    all.extend(fleet::scenarios());
    all
}

#[derive(Debug, Default)]
struct Options {
    short: bool,
    debug: bool,
    keep_logs: bool,
    filters: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--short" => opts.short = true,
            "--debug" => opts.debug = true,
            "--keep-logs" => opts.keep_logs = true,
            "--filter" => opts
                .filters
                .push(it.next().context("--filter needs a substring")?.clone()),
            other => match other.strip_prefix("--filter=") {
                Some(f) => opts.filters.push(f.to_owned()),
                None => bail!(
                    "unknown option `{other}`; usage: cargo xtask chaos|e2e [--short] [--debug] [--filter <substr>]… [--keep-logs]"
                ),
            },
        }
    }
    Ok(opts)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the suite with the command-line `args` (after `chaos`).
pub fn run(args: &[String]) -> Result<()> {
    run_suite("chaos", scenarios, args, 0.10)
}

/// Runs the scenarios `all()` returns that `args` select, as the suite `suite` (`chaos`,
/// `e2e`): builds the binaries, runs each scenario with its own processes, prints the table and
/// keeps the logs of failed scenarios under `target/<suite>/<time>/`. A scenario fails when the
/// first worker's RSS does not come back within `rss_tolerance` of its baseline.
pub fn run_suite(
    suite: &str,
    all: fn() -> Vec<Scenario>,
    args: &[String],
    rss_tolerance: f64,
) -> Result<()> {
    let opts = parse(args)?;
    let selected: Vec<Scenario> = all()
        .into_iter()
        .filter(|s| !opts.short || s.in_short)
        .filter(|s| opts.filters.is_empty() || opts.filters.iter().any(|f| s.name.contains(f)))
        .collect();
    if selected.is_empty() {
        let names: Vec<String> = all().into_iter().map(|s| s.name).collect();
        bail!("no scenario matches; scenarios: {}", names.join(", "));
    }
    let root = crate::tidy::workspace_root();
    let bins = harness::build(&root, opts.debug)?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let env = Env {
        logs: root.join("target").join(suite).join(stamp.to_string()),
        scale: if opts.debug { 2 } else { 1 },
        short: opts.short,
        rss_tolerance,
        bins,
    };
    println!(
        "== {suite}: {} scenario(s), {} build, load {} at start",
        selected.len(),
        env.bins.profile,
        load()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    let rows = runtime.block_on(run_all(&env, &selected));
    drop(runtime);
    println!("\n{}", report::table(&rows));
    print!("{}", report::details(&rows));
    let failed = rows.iter().filter(|r| !r.passed()).count();
    finish_logs(&env, &rows, opts.keep_logs)?;
    println!("load {} at end", load());
    if failed > 0 {
        bail!("{failed} of {} {suite} scenario(s) failed", rows.len());
    }
    println!("{suite}: all {} scenario(s) passed", rows.len());
    Ok(())
}

async fn run_all(env: &Env, selected: &[Scenario]) -> Vec<Row> {
    let mut rows = Vec::new();
    for s in selected {
        println!("-- {} …", s.name);
        let started = std::time::Instant::now();
        let mut row = match (s.run)(env).await {
            Ok(row) => row,
            Err(e) => {
                let mut row = Row::new(&s.name);
                row.problem(format!("harness error: {e:#}"));
                row.logs = Some(env.logs.join(&s.name));
                row.secs = started.elapsed().as_secs_f64();
                row
            }
        };
        row.known = s.known;
        let verdict = if row.passed() { "pass" } else { "FAIL" };
        println!(
            "   {verdict}: {} runs, {} ok, {} wrong, {} lost, {} dup, {} crash ({:.0}s)",
            row.enqueued, row.ok, row.wrong, row.lost, row.dup, row.crashes, row.secs
        );
        rows.push(row);
    }
    rows
}

/// Removes the logs of passed scenarios (unless asked to keep them) and writes the table as
/// Markdown beside the kept ones.
fn finish_logs(env: &Env, rows: &[Row], keep: bool) -> Result<()> {
    for row in rows.iter().filter(|r| r.passed() && !keep) {
        if let Some(dir) = &row.logs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    std::fs::create_dir_all(&env.logs)
        .with_context(|| format!("creating {}", env.logs.display()))?;
    let md = env.logs.join("table.md");
    let text = format!(
        "{} build, load {}\n\n{}",
        env.bins.profile,
        load(),
        report::markdown(rows)
    );
    std::fs::write(&md, text).with_context(|| format!("writing {}", md.display()))?;
    println!("table (markdown): {}", md.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_scenario_names_are_unique() {
        let args: Vec<String> = ["--short", "--filter", "drop", "--filter=oom", "--debug"]
            .map(str::to_owned)
            .to_vec();
        let opts = parse(&args).unwrap_or_default();
        assert!(opts.short && opts.debug && !opts.keep_logs);
        assert_eq!(opts.filters, ["drop", "oom"]);
        assert!(parse(&["--nope".to_owned()]).is_err());
        let names: Vec<String> = scenarios().into_iter().map(|s| s.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(scenarios().iter().any(|s| s.in_short));
    }
}
