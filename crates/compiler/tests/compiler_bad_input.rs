//! Bad input never panics or overflows the stack: syntax errors, non-UTF-8, empty files, huge
//! files and pathologically deep nesting all give a `CompileError` (or a valid compile).

use openfn_compiler::{CompileError, Options, compile, compile_bytes};

fn opts() -> Options {
    Options::default()
}

#[test]
fn empty_and_blank_sources() {
    assert_eq!(compile("", &opts()).unwrap().code, "export default [];");
    assert_eq!(compile("\n", &opts()).unwrap().code, "export default [];\n");
    assert_eq!(
        compile("// only a comment", &opts()).unwrap().code,
        "export default [];"
    );
}

#[test]
fn non_utf8_is_an_error() {
    let err = compile_bytes(b"fn(\xff\xfe);", &opts()).unwrap_err();
    assert_eq!(err, CompileError::InvalidUtf8 { offset: 3 });
    assert_eq!(
        compile_bytes(b"fn();", &opts()).unwrap().code,
        "export default [fn()];"
    );
}

#[test]
fn hashbang_fails_like_recast() {
    let err = compile("#!/usr/bin/env node\nfn();", &opts()).unwrap_err();
    assert_eq!(err.to_string(), "Line 1: Unexpected token ILLEGAL");
}

fn deep(open: &str, mid: &str, close: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (open.len() + close.len()) + mid.len() + 8);
    s.push_str("fn(");
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str(mid);
    for _ in 0..n {
        s.push_str(close);
    }
    s.push_str(");");
    s
}

#[test]
fn ten_thousand_levels_of_nesting_is_an_error() {
    let cases = [
        deep("(", "x", ")", 10_000),
        deep("[", "x", "]", 10_000),
        deep("{a:", "x", "}", 10_000),
        deep("!", "x", "", 10_000),
        deep("- ", "x", "", 10_000),
        deep("typeof ", "x", "", 10_000),
        deep("a=", "x", "", 10_000),
        deep("x=>", "x", "", 10_000),
        deep("a?b:", "x", "", 10_000),
        deep("`${", "x", "}`", 10_000),
        deep("f(", "x", ")", 10_000),
        deep("a?\nb\n:", "x", "", 10_000),
    ];
    for src in cases {
        match compile(&src, &opts()) {
            Err(CompileError::TooDeep { .. }) => {}
            Err(other) => panic!("expected TooDeep for {:?}…, got {other}", &src[..40]),
            Ok(_) => panic!("expected TooDeep for {:?}…, got a compile", &src[..40]),
        }
    }
}

#[test]
fn moderate_nesting_compiles() {
    let src = deep("(", "$.x", ")", 200);
    let out = compile(&src, &opts()).unwrap();
    assert!(out.code.contains("(((((state => state.x)))))"));
    let src = deep("[", "1", "]", 500);
    assert!(compile(&src, &opts()).is_ok());
}

#[test]
fn fifty_megabytes() {
    let mut src = String::with_capacity(51 * 1024 * 1024);
    src.push_str("const mapping = {\n");
    let mut i = 0;
    while src.len() < 50 * 1024 * 1024 {
        src.push_str(&format!(
            "  \"key_{i}\": {{ \"target\": \"field_{i}\", \"n\": {i} }},\n"
        ));
        i += 1;
    }
    src.push_str("};\nfn(state => state);\n");
    let out = compile(&src, &opts()).unwrap();
    assert!(out.code.ends_with("export default [fn(state => state)];\n"));
    // A 50 MB syntax error is still just an error.
    let broken = format!("{}{{", &src[..src.len() - 30]);
    assert!(compile(&broken, &opts()).is_err());
}

#[test]
fn nesting_just_under_the_limit_does_not_overflow() {
    for (open, mid, close) in [
        ("(", "x", ")"),
        ("a=", "x", ""),
        ("x=>", "x", ""),
        ("!", "x", ""),
        ("[", "$.a", "]"),
        ("f(", "x", ")"),
    ] {
        let src = deep(open, mid, close, 1400);
        // Either compiles or errors; it must not crash.
        let _ = compile(&src, &opts());
    }
}
