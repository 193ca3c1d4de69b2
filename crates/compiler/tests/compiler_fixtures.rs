//! Fixture cases (`tests/fixtures/<case>.js`, optional `<case>.options.json`): each compiles
//! to exactly `<case>.expected.js` (or `ERROR: <message>`), and the full result (code plus
//! the operations index) is an insta snapshot.

use std::fs;
use std::path::Path;

use openfn_compiler::{Options, compile};

/// Compiles `input` and returns the code, or `ERROR: <message>`.
fn run(input: &str, options: &Options) -> (String, Option<String>) {
    match compile(input, options) {
        Ok(c) => {
            let ops = c
                .map
                .operations
                .as_ref()
                .map(|o| serde_json::to_string(o).unwrap_or_default());
            (c.code, ops)
        }
        Err(e) => (format!("ERROR: {e}"), None),
    }
}

/// The `check(input, expected)` helper: compile and compare byte for byte.
fn check(input: &str, options: &Options, expected: &str) -> (String, Option<String>) {
    let (code, ops) = run(input, options);
    assert_eq!(code, expected, "\ninput: {input:?}");
    (code, ops)
}

#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".js") && !n.ends_with(".expected.js"))
        .map(|n| n.trim_end_matches(".js").to_string())
        .collect();
    names.sort();
    assert!(names.len() >= 60, "fixtures missing: {}", names.len());
    for name in names {
        let input = fs::read_to_string(dir.join(format!("{name}.js"))).unwrap();
        let expected = fs::read_to_string(dir.join(format!("{name}.expected.js"))).unwrap();
        let options: Options = match fs::read_to_string(dir.join(format!("{name}.options.json"))) {
            Ok(json) => serde_json::from_str(&json).unwrap(),
            Err(_) => Options::default(),
        };
        let (code, ops) = check(&input, &options, &expected);
        let snapshot = match ops {
            Some(ops) => format!("{code}\n---- operations ----\n{ops}"),
            None => code,
        };
        insta::assert_snapshot!(name, snapshot);
    }
}
