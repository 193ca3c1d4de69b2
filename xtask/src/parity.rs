//! `cargo xtask parity --kit-dir <kit> [--record] [--filter x] [--cli-only | --worker-only]`:
//! runs every case of `tests/parity` through the kit's CLI and ours, and every case of
//! `tests/parity/worker` through the kit's ws-worker and ours against one lightning-mock
//! (`parity_worker`), prints every difference per case and fails on any that
//! `KNOWN_DIFFERENCES` (the deliberate ones) does not list; `--record` also
//! writes the kit's normalised outcome as `<case>/kit.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::parity_case::{self, Case, FIXTURE, Outcome};

#[path = "../../tests/adaptor_versions.rs"]
pub(crate) mod adaptor_versions;

/// The adaptor every case may use, installed into both repos before the cases run (the version
/// pinned in tests/adaptor-versions).
fn adaptor() -> String {
    adaptor_versions::spec(adaptor_versions::COMMON)
}

struct Options {
    kit_dir: PathBuf,
    record: bool,
    filter: Option<String>,
    cli: bool,
    worker: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut kit_dir = None;
    let mut record = false;
    let mut filter = None;
    let (mut cli, mut worker) = (true, true);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kit-dir" => kit_dir = it.next().map(PathBuf::from),
            "--record" => record = true,
            "--filter" => filter = it.next().cloned(),
            "--cli-only" => worker = false,
            "--worker-only" => cli = false,
            other => bail!("unknown parity option `{other}`"),
        }
    }
    let kit_dir = kit_dir.context(
        "usage: cargo xtask parity --kit-dir <OpenFn/kit checkout, built> [--record] \
         [--filter x] [--cli-only | --worker-only]",
    )?;
    if !cli && !worker {
        bail!("--cli-only and --worker-only exclude each other");
    }
    Ok(Options {
        kit_dir,
        record,
        filter,
        cli,
        worker,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let root = crate::tidy::workspace_root();
    let kit_dir = opts
        .kit_dir
        .canonicalize()
        .unwrap_or_else(|_| opts.kit_dir.clone());
    let mut packages = Vec::new();
    if opts.cli {
        packages.push("openfn-cli");
    }
    if opts.worker {
        packages.extend(["openfn-ws-worker", "openfn-lightning-mock"]);
    }
    build(&root, &packages)?;
    // differences not listed in KNOWN_DIFFERENCES (the deliberate ones), and listed ones gone
    let mut unexpected = 0;
    if opts.cli {
        unexpected += run_cli(&opts, &root, &kit_dir)?;
    }
    if opts.worker {
        let outcome = crate::parity_worker::run(&kit_dir, &root, opts.filter.as_deref())?;
        let known_file = root.join("tests/parity/worker").join(parity_case::KNOWN);
        let known_text = std::fs::read_to_string(known_file).unwrap_or_default();
        let known = parity_case::parse_known(&known_text).map_err(anyhow::Error::msg)?;
        let (cases, differ, new) = crate::parity_worker::report(&outcome, &known, opts.record)?;
        println!(
            "worker parity: {cases} cases, {differ} differ ({new} fields not in worker/{}){}",
            parity_case::KNOWN,
            if opts.record {
                ", kit fixtures recorded"
            } else {
                ""
            }
        );
        unexpected += new;
        let problems = crate::parity_worker::kit_mock_pass(&kit_dir, &root)?;
        for p in &problems {
            println!("DIFF  worker/output-withheld against the kit's mock: {p}");
        }
        if problems.is_empty() {
            println!(
                "ok    worker/output-withheld against the kit's mock (nothing answered is sent again)"
            );
        }
        unexpected += problems.len();
    }
    if unexpected > 0 {
        bail!("{unexpected} difference(s) from the kit that KNOWN_DIFFERENCES does not list");
    }
    Ok(())
}

/// `cargo build -p <packages>` (debug), without the variables `cargo run` sets for the xtask,
/// so that build scripts that watch them do not rebuild half the tree.
fn build(root: &Path, packages: &[&str]) -> Result<()> {
    let mut build = Command::new("cargo");
    build.arg("build").current_dir(root);
    for p in packages {
        build.args(["-p", p]);
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            build.env_remove(key.as_ref());
        }
    }
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p {} failed", packages.join(" -p "));
    }
    Ok(())
}

/// The CLI half; returns how many differences are not in KNOWN_DIFFERENCES plus how many listed
/// ones (of the cases run) are gone.
fn run_cli(opts: &Options, root: &Path, kit_dir: &Path) -> Result<usize> {
    let kit_cli = kit_dir.join("packages/cli/dist/index.js");
    if !kit_cli.is_file() {
        bail!(
            "{} not found: build the kit first (pnpm install && pnpm build)",
            kit_cli.display()
        );
    }
    let ours = vec![
        root.join("target/debug/openfn")
            .to_string_lossy()
            .into_owned(),
    ];
    let kit = vec!["node".to_owned(), kit_cli.to_string_lossy().into_owned()];
    let scratch = root.join("target/parity");
    let (kit_repo, our_repo) = (scratch.join("kit-repo"), scratch.join("repo"));
    let adaptor = adaptor();
    install(&kit, &kit_repo, &["repo", "install", &adaptor])?;
    install(&ours, &our_repo, &["repo", "install", &adaptor])?;

    let corpus = root.join("tests/parity");
    let cases = parity_case::load_cases(&corpus, opts.filter.as_deref())?;
    let known_text = std::fs::read_to_string(corpus.join(parity_case::KNOWN)).unwrap_or_default();
    let known = parity_case::parse_known(&known_text).map_err(anyhow::Error::msg)?;
    let mut new = 0;
    let mut differing = 0;
    let mut fields = 0;
    let mut found = std::collections::BTreeSet::new();
    for case in &cases {
        let tags = [(kit_dir.to_path_buf(), "<kit>")];
        let theirs = parity_case::run_case(case, &kit, &kit_repo, &scratch.join("kit"), &tags)
            .with_context(|| format!("running the kit on {}", case.name))?;
        let mine = parity_case::run_case(case, &ours, &our_repo, &scratch.join("ours"), &[])
            .with_context(|| format!("running ours on {}", case.name))?;
        if opts.record {
            record(case, &theirs)?;
        }
        let diffs = parity_case::compare(&case.name, &theirs, &mine);
        if diffs.is_empty() {
            println!("ok    {}", case.name);
            continue;
        }
        differing += 1;
        fields += diffs.len();
        println!("DIFF  {}  ({})", case.name, case.args.join(" "));
        for d in diffs {
            let key = (d.case.clone(), d.field.clone());
            let listed = known.contains(&key);
            new += usize::from(!listed);
            let tag = if listed { "known" } else { "NEW" };
            println!("  -- {} [{tag}] (- kit, + ours)", d.field);
            found.insert(key);
            for line in d.detail.lines() {
                println!("    {line}");
            }
        }
    }
    // listed for a case that ran, but no longer different
    let gone: Vec<_> = known
        .difference(&found)
        .filter(|(case, _)| cases.iter().any(|c| &c.name == case))
        .collect();
    for (case, field) in &gone {
        println!(
            "GONE  {case} {field} is listed in {} but matches the kit",
            parity_case::KNOWN
        );
    }
    println!(
        "parity: {} cases, {} differ ({} fields, {} not in {}, {} listed but gone){}",
        cases.len(),
        differing,
        fields,
        new,
        parity_case::KNOWN,
        gone.len(),
        if opts.record {
            ", kit fixtures recorded"
        } else {
            ""
        }
    );
    Ok(new + gone.len())
}

/// Installs the corpus' adaptor into `repo` with `program`'s own `repo install`.
fn install(program: &[String], repo: &Path, args: &[&str]) -> Result<()> {
    let (exe, pre) = program.split_first().context("empty program")?;
    let out = Command::new(exe)
        .args(pre)
        .args(args)
        .env("OPENFN_REPO_DIR", repo)
        .arg("--repo-dir")
        .arg(repo)
        .output()
        .with_context(|| format!("running {exe}"))?;
    if !out.status.success() {
        bail!(
            "{exe} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn record(case: &Case, outcome: &Outcome) -> Result<()> {
    let mut text = serde_json::to_string_pretty(&outcome.renormalised().to_json())?;
    text.push('\n');
    std::fs::write(case.dir.join(FIXTURE), text)
        .with_context(|| format!("writing {}/{FIXTURE}", case.name))
}
