//! The CLI half of the kit parity check, without a kit: runs `openfn` on every case of
//! `tests/parity` and compares with the kit's recorded outcome (`<case>/kit.json`, written by
//! `cargo xtask parity --record`). The differences must be exactly those listed in
//! `tests/parity/KNOWN_DIFFERENCES`: a new one fails, and so does a listed one that is gone.
//! With the `wasm` feature the corpus also runs on the wasm tier (`OPENFN_SANDBOX=wasm`),
//! whose own differences are listed in `KNOWN_DIFFERENCES_WASM` (kept exact the same way).
//! `PARITY_SHOW=<part of a case name>` prints the differences of those cases.

#[path = "../../../xtask/src/parity_case.rs"]
#[allow(dead_code, reason = "shared with the xtask, which uses more of it")]
mod parity_case;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use parity_case::{FIXTURE, KNOWN, Outcome};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity")
}

/// The repo with the corpus' adaptor, installed once per build.
fn repo(openfn: &Path) -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-parity-repo");
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

fn known(file: &str) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(corpus().join(file))
        .unwrap_or_else(|e| panic!("read tests/parity/{file}: {e}"));
    parity_case::parse_known(&text).unwrap_or_else(|e| panic!("parse {file}: {e}"))
}

#[test]
fn every_case_matches_the_kit_or_is_a_known_difference() {
    let openfn = PathBuf::from(env!("CARGO_BIN_EXE_openfn"));
    let program = vec![openfn.to_string_lossy().into_owned()];
    check_corpus(&openfn, &program, &known(KNOWN), &BTreeSet::new());
}

/// The same corpus on the wasm tier: a difference must be the native tier's or one of the
/// tier's own (`KNOWN_DIFFERENCES_WASM`, kept exact).
#[cfg(feature = "wasm")]
#[test]
fn every_case_on_the_wasm_tier_matches_the_kit_or_is_a_known_difference() {
    let openfn = PathBuf::from(env!("CARGO_BIN_EXE_openfn"));
    // the case runner runs `program` with the case's arguments: `env` puts the tier in place
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-parity-cache");
    let program = vec![
        "env".to_owned(),
        "OPENFN_SANDBOX=wasm".to_owned(),
        format!("OPENFN_WASM_CACHE={}", cache.display()),
        openfn.to_string_lossy().into_owned(),
    ];
    let (native, wasm) = (known(KNOWN), known("KNOWN_DIFFERENCES_WASM"));
    let overlap: Vec<_> = native.intersection(&wasm).collect();
    assert!(overlap.is_empty(), "listed in both files: {overlap:?}");
    check_corpus(&openfn, &program, &native, &wasm);
}

/// Runs every case with `program` and compares with the kit's outcome: a difference must be in
/// `native` or `wasm`; the list kept exact (every entry still found) is `wasm` when it is
/// given, else `native`.
fn check_corpus(
    openfn: &Path,
    program: &[String],
    native: &BTreeSet<(String, String)>,
    wasm: &BTreeSet<(String, String)>,
) {
    // shared by both tests: the repo's installs lock across processes
    let repo = repo(openfn);
    let work = tempfile::tempdir().expect("temp dir");
    let cases = parity_case::load_cases(&corpus(), None).expect("read the corpus");
    assert_eq!(cases.len(), 102, "the corpus has {} cases", cases.len());

    let mut found = BTreeSet::new();
    let mut report = Vec::new();
    for case in &cases {
        let fixture = case.dir.join(FIXTURE);
        let text = std::fs::read_to_string(&fixture).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (record with cargo xtask parity --record)",
                fixture.display()
            )
        });
        let value: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
        let kit = Outcome::from_json(&value).expect("fixture has exit, output, files");
        let ours =
            parity_case::run_case(case, program, &repo, work.path(), &[]).expect("run openfn");
        for d in parity_case::compare(&case.name, &kit, &ours) {
            // PARITY_SHOW=<part of a case name> prints its known differences too
            if std::env::var("PARITY_SHOW").is_ok_and(|f| case.name.contains(&f)) {
                println!("{} {} (- kit, + ours):\n{}\n", d.case, d.field, d.detail);
            }
            let key = (d.case.clone(), d.field.clone());
            if !native.contains(&key) && !wasm.contains(&key) {
                report.push(format!(
                    "NEW difference {} {} (- kit, + ours):\n{}",
                    d.case, d.field, d.detail
                ));
            }
            found.insert(key);
        }
    }
    let (exact, file) = if wasm.is_empty() {
        (native, KNOWN)
    } else {
        (wasm, "KNOWN_DIFFERENCES_WASM")
    };
    for (case, field) in exact.difference(&found) {
        if cases.iter().any(|c| &c.name == case) {
            report.push(format!(
                "{case} {field} now matches the kit: remove it from {file}"
            ));
        } else {
            report.push(format!("{file} lists `{case}`, which is not a case"));
        }
    }
    assert!(
        report.is_empty(),
        "{} problem(s):\n{}",
        report.len(),
        report.join("\n\n")
    );
}
