//! `package_entry` / `load_adaptor` pick a package's ESM entry the way the kit's linker does
//! (docs/execution.md §2.10): `exports` (a string), `exports["."]` (a string) or its `import`
//! condition — before `require`/`default`, whatever the key order — else `main`, else
//! `index.js`; the `module` field is ignored.

mod common;

use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// One package per case: `(name, package.json, files)`; every file exports its own path as
/// `which` so the namespace shows which entry was loaded.
const CASES: &[(&str, &str, &[&str])] = &[
    // Dual package, `require` listed first: the ESM entry still wins.
    (
        "dual",
        r#"{"type":"module","main":"./dist/index.cjs","module":"./dist/module.js","exports":{".":{"require":"./dist/index.cjs","types":"./index.d.ts","default":"./dist/default.js","import":"./dist/index.js"},"./util":"./dist/util.js"}}"#,
        &[
            "dist/index.cjs",
            "dist/index.js",
            "dist/module.js",
            "dist/default.js",
        ],
    ),
    // Nested conditions under `import`.
    (
        "nested",
        r#"{"main":"./cjs/index.js","exports":{".":{"import":{"types":"./index.d.ts","default":"./esm/index.mjs"},"require":"./cjs/index.js"}}}"#,
        &["esm/index.mjs", "cjs/index.js"],
    ),
    // `exports` as a string, and `exports["."]` as a string.
    (
        "string",
        r#"{"main":"./main.cjs","exports":"./entry.mjs"}"#,
        &["entry.mjs", "main.cjs"],
    ),
    (
        "dot-string",
        r#"{"main":"./main.cjs","exports":{".":"./entry.mjs","./package.json":"./package.json"}}"#,
        &["entry.mjs", "main.cjs"],
    ),
    // Conditions at the top level of `exports` (no subpaths).
    (
        "sugar",
        r#"{"exports":{"require":"./a.cjs","import":"./a.mjs"}}"#,
        &["a.cjs", "a.mjs"],
    ),
    // Only subpath exports: `main`; the `module` field is ignored.
    (
        "subpaths",
        r#"{"main":"lib/main.js","module":"./lib/module.mjs","exports":{"./x":"./lib/x.js"}}"#,
        &["lib/main.js", "lib/module.mjs", "lib/x.js"],
    ),
    // Neither: `index.js`.
    ("bare", r#"{"name":"bare"}"#, &["index.js"]),
];

fn packages() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, pj, files) in CASES {
        let root = dir.path().join("node_modules").join(name);
        write(&root, "package.json", pj);
        for f in *files {
            // `.js` files are CommonJS unless the package has `"type": "module"`.
            let esm =
                f.ends_with(".mjs") || (f.ends_with(".js") && pj.contains(r#""type":"module""#));
            let text = if !esm {
                format!("exports.which = '{f}';")
            } else {
                format!("export const which = '{f}';")
            };
            write(&root, f, &text);
        }
    }
    dir
}

#[tokio::test]
async fn entry_points_follow_the_kit() {
    let dir = packages();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let host = r.host.clone();
    let root = dir.path().to_path_buf();
    let got = r
        .ctx
        .async_with(async |ctx| {
            let mut out = Vec::new();
            for (name, _, _) in CASES {
                let pkg = root.join("node_modules").join(name);
                let entry = openfn_node_host::package_entry(&host, &pkg).unwrap();
                let rel = entry
                    .strip_prefix(pkg.canonicalize().unwrap())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let ns = openfn_node_host::load_adaptor(&host, &ctx, &pkg)
                    .await
                    .unwrap();
                let which: String = ns.get("which").unwrap();
                out.push(((*name).to_owned(), rel, which));
            }
            out
        })
        .await;
    let expected = [
        ("dual", "dist/index.js"),
        ("nested", "esm/index.mjs"),
        ("string", "entry.mjs"),
        ("dot-string", "entry.mjs"),
        ("sugar", "a.mjs"),
        ("subpaths", "lib/main.js"),
        ("bare", "index.js"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(n, e)| ((*n).to_owned(), (*e).to_owned(), (*e).to_owned()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_missing_entry_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("node_modules/broken");
    write(
        &pkg,
        "package.json",
        r#"{"exports":{".":{"import":"./gone.mjs"}}}"#,
    );
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let e = openfn_node_host::package_entry(&r.host, &pkg).unwrap_err();
    assert!(e.to_string().contains("broken"), "{e}");
}
