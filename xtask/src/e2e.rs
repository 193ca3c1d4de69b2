//! `cargo xtask e2e [--short] [--debug] [--filter <substr>]… [--keep-logs]`: the end-to-end
//! suite. Builds `ws-worker`, `lightning-mock` and `openfn`, starts the mock and workers as
//! real processes on free loopback ports (the chaos harness: `crate::chaos`), and runs
//! scenarios through the mock's dev API, checking what Lightning records against expectations
//! written here by hand: the happy path on the real `@openfn/language-common`, edges and
//! conditions, credentials, input dataclips, every error class, payload limits, workloops and
//! priorities, the CLI on the same jobs; and, from the chaos suite, kills by memory and time,
//! SIGTERM drain, socket drops and two workers on one mock. Prints a pass/fail table, keeps the
//! process logs of failed scenarios and exits non-zero on a failure.
//!
//! Modules: `plans` (the Lightning plans and what each must leave), `runs` (single-worker
//! scenarios), `cli` (the `openfn` CLI on the same jobs).

mod cli;
pub(crate) mod plans;
mod runs;

use anyhow::Result;

use crate::chaos::{self, Scenario};

/// The chaos scenarios that are also end-to-end behaviours users rely on.
const FROM_CHAOS: &[&str] = &[
    "oom",
    "infinite-loop",
    "sigterm-drain",
    "drop-1",
    "two-workers",
    "final-state-20mb",
];

/// Every scenario, in the order they run.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = runs::scenarios();
    all.extend(cli::scenarios());
    all.extend(
        chaos::scenarios()
            .into_iter()
            .filter(|s| FROM_CHAOS.contains(&s.name.as_str())),
    );
    all
}

/// Runs the suite with the command-line `args` (after `e2e`). Memory is the chaos suite's
/// concern: a first install and adaptor load legitimately grow the worker, so the RSS check is
/// off here.
pub fn run(args: &[String]) -> Result<()> {
    chaos::run_suite("e2e", scenarios, args, f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_are_unique_and_the_chaos_ones_exist() {
        let names: Vec<String> = scenarios().into_iter().map(|s| s.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for wanted in FROM_CHAOS {
            assert!(
                names.iter().any(|n| n == wanted),
                "no chaos scenario {wanted}"
            );
        }
    }
}
