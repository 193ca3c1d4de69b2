//! Fixture cases (`tests/fixtures/<case>.js`, optional `<case>.options.json`): each compiles
//! to exactly `<case>.expected.js` (or `ERROR: <message>`), with the operations index and the
//! source map `mappings` of `maps.json`. Both were recorded from the kit's compiler by `tests/fixtures/record.mjs`
//! (see `tests/fixtures/README.md`), never from this crate. The cases where the kit has a bug
//! we do not copy are listed in `kit-bugs.json` with the reason and our own output.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use openfn_compiler::{Operation, Options, compile};
use serde::Deserialize;

/// Number of fixture cases (an exact count, so a lost file fails the test).
const CASES: usize = 127;

/// A case where the kit's output is a kit bug: what we produce instead, and why.
#[derive(Deserialize)]
struct KitBug {
    reason: String,
    ours: String,
}

/// The kit's operations index and source-map mappings of one case.
#[derive(Debug, PartialEq, Deserialize)]
struct KitMap {
    operations: Vec<Operation>,
    mappings: String,
}

/// Compiles `input` and returns the code (or `ERROR: <message>`) and the map parts.
fn run(input: &str, options: &Options) -> (String, Option<KitMap>) {
    match compile(input, options) {
        Ok(c) => {
            let map = KitMap {
                operations: c.map.operations.unwrap_or_default(),
                mappings: c.map.mappings,
            };
            (c.code, Some(map))
        }
        Err(e) => (format!("ERROR: {e}"), None),
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fixtures_match_the_kit_compiler() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".js") && !n.ends_with(".expected.js"))
        .map(|n| n.trim_end_matches(".js").to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), CASES, "fixture cases: {names:?}");
    let maps: BTreeMap<String, KitMap> = read_json(&dir.join("maps.json"));
    let kit_bugs: BTreeMap<String, KitBug> = read_json(&dir.join("kit-bugs.json"));
    let mut failures = Vec::new();
    for name in &names {
        let input = fs::read_to_string(dir.join(format!("{name}.js"))).unwrap();
        let kit = fs::read_to_string(dir.join(format!("{name}.expected.js"))).unwrap();
        let options_path = dir.join(format!("{name}.options.json"));
        let options: Options = if options_path.exists() {
            read_json(&options_path)
        } else {
            Options::default()
        };
        let (code, map) = run(&input, &options);
        if let Some(bug) = kit_bugs.get(name) {
            assert_ne!(
                code, kit,
                "{name}: listed as a kit bug ({}) but matches",
                bug.reason
            );
            if code != bug.ours {
                failures.push(format!(
                    "{name} (kit bug):\n ours: {code:?}\n want: {:?}",
                    bug.ours
                ));
            }
            continue;
        }
        if code != kit {
            failures.push(format!("{name}:\n ours: {code:?}\n kit:  {kit:?}"));
        }
        let kit_map = maps.get(name);
        if map.as_ref().map(|m| &m.operations) != kit_map.map(|m| &m.operations) {
            failures.push(format!(
                "{name} operations:\n ours: {map:?}\n kit:  {kit_map:?}"
            ));
        }
        if map.as_ref().map(|m| &m.mappings) != kit_map.map(|m| &m.mappings) {
            failures.push(format!(
                "{name} mappings:\n ours: {map:?}\n kit:  {kit_map:?}"
            ));
        }
    }
    assert!(
        kit_bugs.keys().all(|k| names.contains(k)),
        "kit-bugs.json names a missing case"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
