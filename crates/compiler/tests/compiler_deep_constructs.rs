//! Every construct that nests without brackets, repeated 100,000 times, is a clean
//! `CompileError` (the kit: "Maximum call stack size exceeded"), never a stack overflow; and
//! the same constructs in ordinary numbers, one after the other, still compile.

use openfn_compiler::{CompileError, Options, compile};

/// `(name, source)` for every construct, each repeated `n` times.
pub fn deep_constructs(n: usize) -> Vec<(&'static str, String)> {
    let rep = |s: &str| s.repeat(n);
    vec![
        ("prefix ++", format!("{}x;", rep("++"))),
        ("prefix --", format!("{}x;", rep("--"))),
        ("prefix + -", format!("{}x;", rep("+ -"))),
        ("if (1)", format!("{}x;", rep("if (1) "))),
        ("if/else", format!("{}x;", rep("if (1) x; else "))),
        ("while (0)", format!("{}x;", rep("while (0) "))),
        ("for (;;)", format!("{}x;", rep("for (;;) "))),
        ("do", format!("{}x;{}", rep("do "), rep(" while (0);"))),
        ("labels", format!("{}x;", rep("a: "))),
        ("labels on lines", format!("{}x;", rep("a:\n"))),
        ("if on lines", format!("{}x;", rep("if (1)\n"))),
        ("optional chain", format!("x{};", rep("?.a"))),
        ("optional calls", format!("x{};", rep("?.()"))),
        ("member chain", format!("x{};", rep(".a"))),
        ("computed members", format!("x{};", rep("[0]"))),
        ("calls", format!("f{};", rep("()"))),
        ("tagged templates", format!("f{};", rep("``"))),
        ("nested templates", format!("{}x{};", rep("`${"), rep("}`"))),
        ("arrow bodies", format!("{}x;", rep("() => "))),
        ("arrow blocks", format!("{}x{};", rep("() => {"), rep("}"))),
        (
            "class bodies",
            format!("{}{};", rep("class A { m() { "), rep("} }")),
        ),
        (
            "functions",
            format!("{}{};", rep("function f() { "), rep("}")),
        ),
        ("blocks", format!("{}x;{}", rep("{ "), rep("}"))),
        ("exponent", format!("x{};", rep(" ** x"))),
        ("equality", format!("x{};", rep(" == x"))),
        ("in", format!("x{};", rep(" in x"))),
        ("nullish", format!("x{};", rep(" ?? x"))),
        ("new", format!("{}X;", rep("new "))),
        ("await", format!("{}x;", rep("await "))),
        ("spread", format!("f({}x{});", rep("...["), rep("]"))),
        ("conditional", format!("{}x;", rep("a ? b : "))),
        ("assignment", format!("{}x;", rep("a = "))),
        ("objects", format!("x = {}1{};", rep("{a: "), rep("}"))),
    ]
}

#[test]
fn every_construct_at_depth_100_000_is_a_compile_error() {
    for (name, src) in deep_constructs(100_000) {
        match compile(&src, &Options::default()) {
            Err(CompileError::TooDeep { .. }) | Err(CompileError::Syntax { .. }) => {}
            Err(other) => panic!("{name}: expected TooDeep, got {other:?}"),
            Ok(_) => panic!("{name}: expected TooDeep, got a compile"),
        }
    }
}

#[test]
fn every_construct_at_depth_1000_compiles_or_fails_cleanly() {
    for (name, src) in deep_constructs(1000) {
        match compile(&src, &Options::default()) {
            Ok(_) | Err(CompileError::TooDeep { .. }) | Err(CompileError::Syntax { .. }) => {}
            Err(other) => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn many_statements_one_after_the_other_compile() {
    let cases = [
        "if (a) { b(); }\n".repeat(5000),
        "if (a) b(); else c();\n".repeat(5000),
        "while (a) { b(); }\n".repeat(5000),
        "do { b(); } while (a);\n".repeat(5000),
        "for (const x of y) { b(x); }\n".repeat(5000),
        (0..5000)
            .map(|i| format!("function f{i}() {{ return 1 }}\n"))
            .collect(),
        "l: for (;;) { break l; }\n".repeat(5000),
        format!("switch (x) {{ {} }}", "case 1: ".repeat(5000)),
        format!(
            "x = {{ {} }};",
            (0..5000)
                .map(|i| format!("k{i}: {{ a: 1 }}, "))
                .collect::<String>()
        ),
        format!("f({});", "a ? b : c, ".repeat(5000)),
        "x = a++ + b--;\n".repeat(5000),
        "fn(state => { if (state.x) { return state; } else { return {}; } });\n".repeat(2000),
    ];
    for src in cases {
        if let Err(e) = compile(&src, &Options::default()) {
            panic!("{e} for {:?}…", &src[..60.min(src.len())]);
        }
    }
}
