//! `cargo xtask <task>`: project automation. Tasks: `tidy` (the checks `cargo test` also runs),
//! `bench [area…]` (release benchmarks that print figures), `chaos [--short] [--debug]
//! [--filter <substr>]` (the fault-injection suite, see `xtask::chaos`), `parity --kit-dir <dir>`
//! (the differential check against the kit CLI and worker, see `xtask::parity`), `e2e [--debug]
//! [--filter <substr>]…` (the end-to-end suite through the real binaries, see `xtask::e2e`),
//! `demo [--release]` (the mock and a worker running the examples), `test [nextest args…]` (every
//! test; installs cargo-nextest when missing).

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tidy") => {
            let root = xtask::tidy::workspace_root();
            let problems = xtask::tidy::check(&root).context("reading the source tree")?;
            for p in &problems {
                println!("{p}");
            }
            if !problems.is_empty() {
                bail!("tidy found {} problem(s)", problems.len());
            }
            println!("tidy: ok");
            Ok(())
        }
        Some("bench") => xtask::bench::run(&args[1..]),
        Some("parity") => xtask::parity::run(&args[1..]),
        Some("chaos") => xtask::chaos::run(&args[1..]),
        Some("e2e") => xtask::e2e::run(&args[1..]),
        Some("demo") => xtask::demo::run(&args[1..]),
        Some("test") => xtask::test::run(&args[1..]),
        Some(other) => {
            bail!("unknown task `{other}`; tasks: tidy, bench, parity, chaos, e2e, demo, test")
        }
        None => {
            bail!("usage: cargo xtask <task>; tasks: tidy, bench, parity, chaos, e2e, demo, test")
        }
    }
}
