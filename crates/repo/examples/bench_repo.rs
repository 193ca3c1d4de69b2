//! Benchmark: cold install of `@openfn/language-http` (default 7.2.10, ~35 packages) into an
//! empty repo, next to `npm install` of the same alias in a temp dir (cold npm cache and warm
//! npm cache), and the warm `Repo::resolve` of the installed adaptor. Prints medians.
//!
//! `cargo run --release -p openfn-repo --example bench_repo [-- <specifier> <runs>]`
//! (`RUST_LOG=openfn_repo=debug` shows per-phase timings.)

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use openfn_repo::{RegistryConfig, Repo, Specifier};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn npm_install(dir: &Path, spec: &Specifier, cache: Option<&Path>) -> Option<Duration> {
    let version = spec.version.as_deref().unwrap_or("latest");
    let arg = format!("{}_{version}@npm:{}@{version}", spec.name, spec.name);
    std::fs::write(
        dir.join("package.json"),
        r#"{"name":"openfn-repo","private":true,"version":"1.0.0","dependencies":{}}"#,
    )
    .ok()?;
    let mut command = Command::new("npm");
    command.current_dir(dir).args([
        "install",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--silent",
        &arg,
    ]);
    if let Some(cache) = cache {
        command.arg("--cache").arg(cache);
    }
    let started = Instant::now();
    let status = command.status().ok()?;
    status.success().then(|| started.elapsed())
}

#[tokio::main]
async fn main() -> anyhow_free::Result {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let spec = Specifier::parse(
        &args
            .next()
            .unwrap_or_else(|| "@openfn/language-http@7.2.10".to_owned()),
    )?;
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let config = RegistryConfig::from_env();
    println!("registry: {}; {runs} runs of {spec}", config.registry);

    // Runs are interleaved (ours, npm with an empty cache, npm with a warm cache) so that
    // machine load affects all three alike.
    let mut ours = Vec::new();
    let mut npm_cold = Vec::new();
    let mut npm_warm = Vec::new();
    let mut last_dir = None;
    let npm_cache = tempfile::tempdir()?;
    for run in 0..runs {
        let dir = tempfile::tempdir()?;
        let repo = Repo::open(dir.path(), config.clone())?;
        let started = Instant::now();
        let installed = repo.install(std::slice::from_ref(&spec)).await?;
        let elapsed = started.elapsed();
        ours.push(elapsed);
        let packages = walkdir_count(&installed[0].path);
        println!(
            "  openfn-repo cold install:   {elapsed:>8.0?} ({packages} packages, {} requests)",
            repo.registry_requests()
        );
        last_dir = Some(dir);

        let dir = tempfile::tempdir()?;
        let fresh_cache = tempfile::tempdir()?;
        match npm_install(dir.path(), &spec, Some(fresh_cache.path())) {
            Some(t) => {
                println!("  npm install (empty cache):  {t:>8.0?}");
                npm_cold.push(t);
            }
            None => println!("  npm install failed or npm missing"),
        }
        if run == 0 {
            // Prime the shared cache once.
            let dir = tempfile::tempdir()?;
            let _ = npm_install(dir.path(), &spec, Some(npm_cache.path()));
        }
        let dir = tempfile::tempdir()?;
        if let Some(t) = npm_install(dir.path(), &spec, Some(npm_cache.path())) {
            println!("  npm install (warm cache):   {t:>8.0?}");
            npm_warm.push(t);
        }
    }

    // Warm resolve: a fresh Repo value on the installed dir, repeated.
    let mut resolve = Vec::new();
    if let Some(dir) = &last_dir {
        let repo = Repo::open(dir.path(), config.clone())?;
        let exact = Specifier::new(
            spec.name.clone(),
            repo.resolve(&Specifier::new(spec.name.clone(), None::<String>))
                .map(|i| i.version),
        );
        for _ in 0..1000 {
            let started = Instant::now();
            let found = repo.resolve(&exact);
            resolve.push(started.elapsed());
            assert!(found.is_some(), "installed adaptor resolves");
        }
    }

    println!();
    println!("median cold install, openfn-repo:      {:?}", median(ours));
    if !npm_cold.is_empty() {
        println!(
            "median cold install, npm (no cache):   {:?}",
            median(npm_cold)
        );
    }
    if !npm_warm.is_empty() {
        println!(
            "median install, npm (warm cache):      {:?}",
            median(npm_warm)
        );
    }
    if !resolve.is_empty() {
        println!(
            "median warm resolve (1000 calls):      {:?}",
            median(resolve)
        );
    }
    Ok(())
}

fn walkdir_count(root: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("package.json").is_file() {
            count += 1;
        }
        let Ok(entries) = std::fs::read_dir(dir.join("node_modules")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('@') {
                if let Ok(inner) = std::fs::read_dir(entry.path()) {
                    stack.extend(inner.flatten().map(|e| e.path()));
                }
            } else {
                stack.push(entry.path());
            }
        }
    }
    count
}

/// Examples may not use `anyhow` (a binary-only crate here); a boxed error does the job.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
