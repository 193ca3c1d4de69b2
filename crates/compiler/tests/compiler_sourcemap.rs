//! Source maps: shape (`sources`, `file`, `sourcesContent`, `operations`) and that positions
//! in the compiled code map back to the user's line and column.

use openfn_compiler::{Options, compile};
use oxc_sourcemap::SourceMap;

/// Maps a (0-based line, 0-based column) in the output to the source position.
fn lookup(map_json: &str, line: u32, col: u32) -> (u32, u32) {
    let map = SourceMap::from_json_string(map_json).expect("valid source map");
    let table = map.generate_lookup_table();
    let tok = map.lookup_token(&table, line, col).expect("a mapping");
    (tok.get_src_line(), tok.get_src_col())
}

/// 0-based (line, column) of the first occurrence of `needle`.
fn find(text: &str, needle: &str) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"));
    let before = &text[..at];
    let line = before.matches('\n').count() as u32;
    let col = (at - before.rfind('\n').map_or(0, |i| i + 1)) as u32;
    (line, col)
}

#[test]
fn map_shape() {
    let out = compile("fn();", &Options::default()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&out.map.to_json()).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["sources"], serde_json::json!(["src.js"]));
    assert_eq!(json["file"], "src.map.js");
    assert_eq!(json["sourcesContent"], serde_json::json!(["fn();"]));
    assert_eq!(
        json["operations"],
        serde_json::json!([{ "name": "fn", "line": 1, "order": 1 }])
    );

    let named = compile(
        "fn();",
        &Options {
            name: "job".into(),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(named.map.sources, ["job.js"]);
    assert_eq!(named.map.file, "job.map.js");
}

#[test]
fn operations_index() {
    let out = compile(
        "// c\nfn(); // t\n/* b */\nhttp.get();\nx.then(y);\nfn(s).then(y);",
        &Options::default(),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(&out.map.to_json()).unwrap();
    assert_eq!(
        json["operations"],
        serde_json::json!([
            { "name": "fn", "line": 2, "order": 1 },
            { "line": 4, "order": 2 },
            { "line": 5, "order": 3 },
            { "name": "_defer", "line": -1, "order": 4 },
        ])
    );
}

#[test]
fn positions_map_back_to_the_source() {
    let src = "const x = 10;\n\nfn(state => {\n  throw new Error('boom');\n});\n\nget($.data.url, { a: $.b });\n";
    let out = compile(src, &Options::default()).unwrap();
    let json = out.map.to_json();
    for needle in ["throw", "Error", "'boom'", "get(", "data.url", "const x"] {
        let (l, c) = find(&out.code, needle);
        let expected = find(src, needle);
        assert_eq!(lookup(&json, l, c), expected, "{needle} in\n{}", out.code);
    }
}

#[test]
fn positions_after_a_created_import_shift_lines() {
    let src = "fn(x).then(y);\nfn(() => {\n  oops();\n});";
    let out = compile(src, &Options::default()).unwrap();
    assert!(out.code.starts_with("import { defer as _defer }"));
    let (l, c) = find(&out.code, "oops");
    assert_eq!(lookup(&out.map.to_json(), l, c), (2, 2));
}
