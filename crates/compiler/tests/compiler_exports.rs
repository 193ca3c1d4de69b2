//! Export discovery: `adaptor_exports` on an installed-adaptor layout (package.json `types`
//! plus the sibling `Adaptor.d.ts`), `get_exports`, and feeding the names to add-imports.

use std::path::Path;

use openfn_compiler::{AdaptorImports, Options, adaptor_exports, compile, get_exports};

fn adaptor_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/adaptor")
}

#[test]
fn reads_types_and_sibling_adaptor_dts() {
    let names = adaptor_exports(&adaptor_dir());
    assert_eq!(
        names,
        [
            "beta",
            "http",
            "util",
            "execute",
            "fn",
            "each",
            "_",
            "dateFns.parse"
        ]
    );
}

#[test]
fn bare_specifiers_and_missing_dirs_give_nothing() {
    assert!(adaptor_exports(Path::new("@openfn/language-common")).is_empty());
    assert!(adaptor_exports(Path::new("/definitely/not/here")).is_empty());
}

#[test]
fn exports_feed_add_imports() {
    let exports = adaptor_exports(&adaptor_dir());
    let mut options = Options::default();
    options.imports.adaptors.push(AdaptorImports {
        name: "@openfn/language-test".into(),
        exports: Some(exports),
        export_all: true,
    });
    let out = compile(
        "fn(state => state);\neach('$.items[*]', http.get('x'));\nVERSION;",
        &options,
    )
    .unwrap();
    assert_eq!(
        out.code,
        "import { http, fn, each } from \"@openfn/language-test\";\nexport * from \"@openfn/language-test\";\nVERSION;\nexport default [fn(state => state), each('$.items[*]', http.get('x'))];"
    );
}

#[test]
fn get_exports_of_mixed_module() {
    let src = "export const x = 1;\nexport function y() {}\nconst z = 2;\nexport { z as zomething };\nexport default 5;";
    assert_eq!(get_exports(src), ["x", "y", "zomething"]);
}
