//! The tidy test: `cargo test` fails when the tree breaks a house rule (see `xtask::tidy`).

#[test]
fn tree_is_tidy() {
    let root = xtask::tidy::workspace_root();
    let problems = xtask::tidy::check(&root).expect("read the source tree");
    let report: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        report.is_empty(),
        "tidy found problems:\n{}",
        report.join("\n")
    );
}
