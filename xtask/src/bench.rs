//! `cargo xtask bench [area…]`: runs each area's benchmark example in release mode. Each example
//! (`<crate>/examples/bench_<area>.rs`) prints its own figures as medians of repeated runs;
//! benchmarks are reports, never pass/fail tests.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// The benchmark areas: name, package, example, and the package's binary the example drives
/// as a process (built with it, next to it in `target/release`).
pub const AREAS: &[(&str, &str, &str, Option<&str>)] = &[
    ("lexicon", "openfn-lexicon", "bench_codec", None),
    ("compiler", "openfn-compiler", "bench_compiler", None),
    ("runtime", "openfn-runtime", "bench_runtime", None),
    ("repo", "openfn-repo", "bench_repo", None),
    ("nodehost", "openfn-node-host", "bench_nodehost", None),
    ("adaptors", "openfn-runtime", "bench_node_adaptors", None),
    ("engine", "openfn-engine", "bench_engine", None),
    ("mock", "openfn-lightning-mock", "bench_mock", None),
    (
        "worker",
        "openfn-ws-worker",
        "bench_worker",
        Some("ws-worker"),
    ),
    ("cli", "openfn-cli", "bench_cli", Some("openfn")),
];

/// The cargo that runs this xtask (the workspace toolchain, `rust-toolchain.toml`): a benchmark
/// never starts a cargo of its own.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs the named areas (all of them when `names` is empty), stopping at the first failure.
/// Each area's example and binary are built in one release build of its package, then the
/// example runs from `target/release/examples`.
pub fn run(names: &[String]) -> Result<()> {
    let selected: Vec<_> = if names.is_empty() {
        AREAS.iter().collect()
    } else {
        let mut out = Vec::new();
        for name in names {
            match AREAS.iter().find(|(area, ..)| area == name) {
                Some(area) => out.push(area),
                None => {
                    let known: Vec<_> = AREAS.iter().map(|(a, ..)| *a).collect();
                    bail!("unknown benchmark `{name}`; known: {}", known.join(", "));
                }
            }
        }
        out
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for (area, package, example, binary) in selected {
        println!("== bench {area} ({package} --example {example})");
        let mut build = Command::new(cargo());
        build.args([
            "build",
            "--release",
            "--quiet",
            "-p",
            package,
            "--example",
            example,
        ]);
        if let Some(binary) = binary {
            build.args(["--bin", binary]);
        }
        let status = build
            .current_dir(&root)
            .status()
            .with_context(|| format!("building the {area} benchmark"))?;
        if !status.success() {
            bail!("building the {area} benchmark failed ({status})");
        }
        let status = Command::new(target.join("release/examples").join(example))
            .current_dir(&root)
            .status()
            .with_context(|| format!("starting the {area} benchmark"))?;
        if !status.success() {
            bail!("the {area} benchmark failed ({status})");
        }
    }
    Ok(())
}
