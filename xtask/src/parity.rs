//! `cargo xtask parity --kit-dir <kit> [--record] [--filter x]`: runs every case of
//! `tests/parity` through the kit's CLI and ours, prints every difference per case and fails
//! on any; `--record` also writes the kit's normalised outcome as `<case>/kit.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::parity_case::{self, Case, FIXTURE, Outcome};

#[path = "../../tests/adaptor_versions.rs"]
mod adaptor_versions;

/// The adaptor every case may use, installed into both repos before the cases run (the version
/// pinned in tests/adaptor-versions).
fn adaptor() -> String {
    adaptor_versions::spec(adaptor_versions::COMMON)
}

struct Options {
    kit_dir: PathBuf,
    record: bool,
    filter: Option<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut kit_dir = None;
    let mut record = false;
    let mut filter = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kit-dir" => kit_dir = it.next().map(PathBuf::from),
            "--record" => record = true,
            "--filter" => filter = it.next().cloned(),
            other => bail!("unknown parity option `{other}`"),
        }
    }
    let kit_dir = kit_dir.context(
        "usage: cargo xtask parity --kit-dir <OpenFn/kit checkout, built> [--record] [--filter x]",
    )?;
    Ok(Options {
        kit_dir,
        record,
        filter,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let root = crate::tidy::workspace_root();
    let kit_cli = opts.kit_dir.join("packages/cli/dist/index.js");
    if !kit_cli.is_file() {
        bail!(
            "{} not found: build the kit first (pnpm install && pnpm build)",
            kit_cli.display()
        );
    }
    let kit_dir = opts
        .kit_dir
        .canonicalize()
        .unwrap_or_else(|_| opts.kit_dir.clone());
    // Without the variables `cargo run` sets for the xtask, so that build scripts that watch
    // them do not rebuild half the tree.
    let mut build = Command::new("cargo");
    build.args(["build", "-p", "openfn-cli"]).current_dir(&root);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            build.env_remove(key.as_ref());
        }
    }
    let status = build.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p openfn-cli failed");
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
    for case in &cases {
        let tags = [(kit_dir.clone(), "<kit>")];
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
            let listed = known.contains(&(d.case.clone(), d.field.clone()));
            new += usize::from(!listed);
            let tag = if listed { "known" } else { "NEW" };
            println!("  -- {} [{tag}] (- kit, + ours)", d.field);
            for line in d.detail.lines() {
                println!("    {line}");
            }
        }
    }
    println!(
        "parity: {} cases, {} differ ({} fields, {} not in {}){}",
        cases.len(),
        differing,
        fields,
        new,
        parity_case::KNOWN,
        if opts.record {
            ", kit fixtures recorded"
        } else {
            ""
        }
    );
    if differing > 0 {
        bail!("{differing} case(s) differ from the kit");
    }
    Ok(())
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
