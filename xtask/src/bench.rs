//! `cargo xtask bench [area…]`: runs each area's benchmark example in release mode. Each example
//! (`<crate>/examples/bench_<area>.rs`) prints its own figures as medians of repeated runs;
//! benchmarks are reports, never pass/fail tests.

use std::process::Command;

use anyhow::{Context, Result, bail};

/// The benchmark areas: name, package, example.
pub const AREAS: &[(&str, &str, &str)] = &[
    ("lexicon", "openfn-lexicon", "bench_codec"),
    ("compiler", "openfn-compiler", "bench_compiler"),
    ("runtime", "openfn-runtime", "bench_runtime"),
    ("repo", "openfn-repo", "bench_repo"),
    ("nodehost", "openfn-node-host", "bench_nodehost"),
    ("adaptors", "openfn-runtime", "bench_node_adaptors"),
    ("engine", "openfn-engine", "bench_engine"),
    ("mock", "openfn-lightning-mock", "bench_mock"),
    ("worker", "openfn-ws-worker", "bench_worker"),
    ("cli", "openfn-cli", "bench_cli"),
];

/// The binaries the benchmarks drive as processes (next to the examples in `target/release`):
/// package and binary.
const BINARIES: &[(&str, &str)] = &[
    ("openfn-ws-worker", "ws-worker"),
    ("openfn-cli", "openfn"),
    ("openfn-lightning-mock", "lightning-mock"),
];

/// The cargo that runs this xtask (the workspace toolchain, `rust-toolchain.toml`): a benchmark
/// never starts a cargo of its own.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Runs the named areas (all of them when `names` is empty), stopping at the first failure.
pub fn run(names: &[String]) -> Result<()> {
    let selected: Vec<_> = if names.is_empty() {
        AREAS.iter().collect()
    } else {
        let mut out = Vec::new();
        for name in names {
            match AREAS.iter().find(|(area, _, _)| area == name) {
                Some(area) => out.push(area),
                None => {
                    let known: Vec<_> = AREAS.iter().map(|(a, _, _)| *a).collect();
                    bail!("unknown benchmark `{name}`; known: {}", known.join(", "));
                }
            }
        }
        out
    };
    let mut build = Command::new(cargo());
    build.args(["build", "--release", "--quiet"]);
    for (package, binary) in BINARIES {
        build.args(["-p", package, "--bin", binary]);
    }
    println!("== building the release binaries the benchmarks start");
    let status = build.status().context("starting cargo build")?;
    if !status.success() {
        bail!("building the release binaries failed ({status})");
    }
    for (area, package, example) in selected {
        println!("== bench {area} ({package} --example {example})");
        let status = Command::new(cargo())
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                package,
                "--example",
                example,
            ])
            .status()
            .with_context(|| format!("starting the {area} benchmark"))?;
        if !status.success() {
            bail!("the {area} benchmark failed ({status})");
        }
    }
    Ok(())
}
