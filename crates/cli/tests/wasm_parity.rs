//! The kit parity corpus on the wasm tier: every case of `tests/parity` run by `openfn` with
//! `OPENFN_SANDBOX=wasm` and compared with the **kit's** recorded outcome (`<case>/kit.json`),
//! as `cli_parity.rs` does for the native tier. A difference must be one the native tier has
//! too (`KNOWN_DIFFERENCES`) or one of the wasm tier's own, listed in `KNOWN_DIFFERENCES_WASM`
//! with its reason; that list is kept exact (a listed difference that is gone fails too).
//! Needs the `wasm` feature and the guest (crates/sandbox-wasm-guest/build.sh).
//! `PARITY_SHOW=<part of a case name>` prints the differences of those cases.
#![cfg(feature = "wasm")]

#[path = "../../../xtask/src/parity_case.rs"]
#[allow(dead_code, reason = "shared with the xtask, which uses more of it")]
mod parity_case;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use parity_case::{FIXTURE, KNOWN, Outcome};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

/// The wasm tier's own differences from the kit, `<case> <field>  # reason` per line.
const KNOWN_WASM: &str = "KNOWN_DIFFERENCES_WASM";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity")
}

fn known(file: &str) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(corpus().join(file))
        .unwrap_or_else(|e| panic!("read tests/parity/{file}: {e}"));
    parity_case::parse_known(&text).unwrap_or_else(|e| panic!("parse {file}: {e}"))
}

/// The repo with the corpus' adaptor (its own, so the native suite's runs do not race it).
fn repo(openfn: &Path) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-parity-repo");
    let adaptor = adaptor_versions::spec(adaptor_versions::COMMON);
    let out = Command::new(openfn)
        .args(["repo", "install", &adaptor])
        .env("OPENFN_REPO_DIR", &repo)
        .output()
        .expect("run openfn repo install");
    assert!(
        out.status.success(),
        "installing {adaptor}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    repo
}

#[test]
fn every_case_on_the_wasm_tier_matches_the_kit_or_is_a_known_difference() {
    let openfn = PathBuf::from(env!("CARGO_BIN_EXE_openfn"));
    let repo = repo(&openfn);
    let work = tempfile::tempdir().expect("temp dir");
    let cases = parity_case::load_cases(&corpus(), None).expect("read the corpus");
    assert_eq!(cases.len(), 102, "the corpus has {} cases", cases.len());
    let (native, wasm) = (known(KNOWN), known(KNOWN_WASM));
    let overlap: Vec<_> = native.intersection(&wasm).collect();
    assert!(overlap.is_empty(), "listed in both files: {overlap:?}");

    // the case runner runs `program` with the case's arguments: `env` puts the tier in place
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-parity-cache");
    let program = vec![
        "env".to_owned(),
        "OPENFN_SANDBOX=wasm".to_owned(),
        format!("OPENFN_WASM_CACHE={}", cache.display()),
        openfn.to_string_lossy().into_owned(),
    ];
    let mut found = BTreeSet::new();
    let mut report = Vec::new();
    for case in &cases {
        let fixture = case.dir.join(FIXTURE);
        let text = std::fs::read_to_string(&fixture)
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
        let value: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let kit = Outcome::from_json(&value).expect("fixture has exit, output, files");
        let ours =
            parity_case::run_case(case, &program, &repo, work.path(), &[]).expect("run openfn");
        for d in parity_case::compare(&case.name, &kit, &ours) {
            if std::env::var("PARITY_SHOW").is_ok_and(|f| case.name.contains(&f)) {
                println!("{} {} (- kit, + ours):\n{}\n", d.case, d.field, d.detail);
            }
            let key = (d.case.clone(), d.field.clone());
            if !native.contains(&key) && !wasm.contains(&key) {
                report.push(format!(
                    "NEW difference on the wasm tier {} {} (- kit, + ours):\n{}",
                    d.case, d.field, d.detail
                ));
            }
            found.insert(key);
        }
    }
    for (case, field) in wasm.difference(&found) {
        report.push(format!(
            "{case} {field} now matches the kit on the wasm tier: remove it from {KNOWN_WASM}"
        ));
    }
    assert!(
        report.is_empty(),
        "{} problem(s):\n{}",
        report.len(),
        report.join("\n\n")
    );
}
