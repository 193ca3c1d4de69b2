//! Property test standing in for a fuzz target: random and mutated job sources never make
//! the compiler panic; they compile or give a `CompileError`.

use openfn_compiler::{AdaptorImports, CompileError, Compiled, Options, compile, compile_bytes};
use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "get($.data.url, { headers: { a: $.configuration.token } });",
    "fn(state => { return state; }).then(s => s);\nfn(s => s);",
    "const { a } = b;\nfn(a);\n// c\neach($.items, post(\"/x\", $.data)).catch(e => e);",
    "export default [fn()];\nfn(() => { get($.data) });",
    "fn(`hello ${$.a} ${x ? $.b : $.c}`)",
];

fn options() -> Options {
    let mut o = Options::default();
    o.imports
        .adaptors
        .push(AdaptorImports::new("@openfn/language-common"));
    o
}

/// Panics inside the compiler surface as `CompileError::Internal`: that is the failure.
fn no_panic(r: Result<Compiled, CompileError>) -> Result<(), TestCaseError> {
    prop_assert!(
        !matches!(r, Err(CompileError::Internal(_))),
        "{:?}",
        r.err()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        no_panic(compile_bytes(&bytes, &options()))?;
    }

    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(
        prop_oneof![
            Just("$"), Just("."), Just("("), Just(")"), Just("{"), Just("}"), Just("["), Just("]"),
            Just("=>"), Just(","), Just(";"), Just("\n"), Just("fn"), Just("state"), Just("then"),
            Just("catch"), Just("const"), Just("x"), Just("="), Just("`"), Just("${"), Just("\""),
            Just("export default"), Just("import"), Just("//"), Just("/*"), Just("*/"), Just("?"),
            Just(":"), Just("!"), Just(" "),
        ],
        0..60,
    )) {
        let src: String = tokens.concat();
        no_panic(compile(&src, &options()))?;
    }

    #[test]
    fn mutated_seeds_never_panic(seed in 0..SEEDS.len(), pos in 0usize..200, del in 0usize..10, ins in "[ -~]{0,6}") {
        let s = SEEDS[seed];
        let p = pos.min(s.len());
        let d = (p + del).min(s.len());
        if s.is_char_boundary(p) && s.is_char_boundary(d) {
            let src = format!("{}{}{}", &s[..p], ins, &s[d..]);
            no_panic(compile(&src, &options()))?;
        }
    }
}
