//! The golden input→output pairs of the spec (§1.4–§1.9) and the kit's own compile tests,
//! checked byte for byte.

use openfn_compiler::{AdaptorImports, CompileError, Options, compile};

fn check_with(input: &str, options: &Options, expected: &str) {
    let out =
        compile(input, options).unwrap_or_else(|e| panic!("compile failed for {input:?}: {e}"));
    assert_eq!(out.code, expected, "\ninput: {input:?}");
}

fn check(input: &str, expected: &str) {
    check_with(input, &Options::default(), expected);
}

fn err(input: &str) -> String {
    match compile(input, &Options::default()) {
        Ok(c) => panic!("expected an error for {input:?}, got {:?}", c.code),
        Err(e) => e.to_string(),
    }
}

fn adaptor(exports: Option<&[&str]>, export_all: bool) -> Options {
    let mut o = Options::default();
    o.imports.adaptors.push(AdaptorImports {
        name: "@openfn/language-common".into(),
        exports: exports.map(|e| e.iter().map(|s| s.to_string()).collect()),
        export_all,
    });
    o
}

#[test]
fn golden_basic() {
    check("", "export default [];");
    check("fn();", "export default [fn()];");
    check("fn()", "export default [fn()];");
    check("fn() ", "export default [fn()];");
    check("fn();fn();fn();", "export default [fn(), fn(), fn()];");
    check("http.get();", "export default [http.get()];");
    check(
        "const x = dateFns.parse()",
        "const x = dateFns.parse()\nexport default [];",
    );
    check(
        "export const x = 10;export default [];",
        "export const x = 10;export default [];",
    );
    check(
        "export const x = 10;",
        "export const x = 10;\nexport default [];",
    );
    check("fn(a.b?.c);", "export default [fn(a.b?.c)];");
    check("fn(a ?? b);", "export default [fn(a ?? b)];");
    check(
        "// c\nfn(); // t\n/* b */\nfn2();",
        "export default [fn(), fn2()];",
    );
    check(
        "fn(s => s);\n\nconst x = 10;\n\nfn(s => s);",
        "const x = 10;\n\nexport default [fn(s => s), fn(s => s)];",
    );
    check("await fn();", "await fn();\nexport default [];");
    check(
        "export const y = 1; fn();",
        "export const y = 1;\nexport default [fn()];",
    );
    check(
        "fn(state => { console.log(\"a really long line that goes on and on and on\"); return state; });",
        "export default [\n  fn(state => { console.log(\"a really long line that goes on and on and on\"); return state; })\n];",
    );
    check(
        "fn(state => { return state; }).then(s => s);\nfn(s => s);",
        "import { defer as _defer } from \"@openfn/runtime\";\nexport default [_defer(fn(state => { return state; }), p => p.then(s => s)), fn(s => s)];",
    );
}

#[test]
fn golden_top_level_operations() {
    check("fn(); export default [x];", "export default [x, fn()];");
    check("new Foo();", "new Foo();\nexport default [];");
    check("a = 1;", "a = 1;\nexport default [];");
    check("x;", "x;\nexport default [];");
    check("if (x) { fn() }", "if (x) { fn() }\nexport default [];");
    check("fn()();", "export default [fn()()];");
    check("(fn());", "export default [fn()];");
    check("a.b.c();", "export default [a.b.c()];");
    check(
        "[1,2].forEach(x => x);",
        "export default [[1,2].forEach(x => x)];",
    );
}

#[test]
fn golden_lazy_state() {
    check(
        "get($.data.url);",
        "export default [get(state => state.data.url)];",
    );
    check(
        "get($.a?.b.c.d)",
        "export default [get(state => state.a?.b.c.d)];",
    );
    check(
        "get(`hello ${$.a} ${$.b}`)",
        "export default [get(state => `hello ${state.a} ${state.b}`)];",
    );
    check(
        "get($.firstname + \" \" + $.lastname)",
        "export default [get(state => state.firstname + \" \" + state.lastname)];",
    );
    check(
        "get(city[$.location])",
        "export default [get(state => city[state.location])];",
    );
    check(
        "get(!$.data.x)",
        "export default [get(state => !state.data.x)];",
    );
    check(
        "fn($.callMeMaybe($.age))",
        "export default [fn(state => state.callMeMaybe(state.age))];",
    );
    check(
        "each($.data.items, post(\"/x\", $.data));",
        "export default [each(state => state.data.items, post(\"/x\", state => state.data))];",
    );
    check(
        "fn(state => $.data);",
        "export default [fn(state => state.data)];",
    );
    check("fn($ => $.data);", "export default [fn($ => $.data)];");
    check("get(\"$.a.b\")", "export default [get(\"$.a.b\")];");
    check(
        "fn(() => {\n  get($.data)\n})",
        "export default [fn(() => {\n  get(state => state.data)\n})];",
    );
    check(
        "const x = { x: $.data };\nfn($.data)",
        "const x = { x: $.data };\nexport default [fn(state => state.data)];",
    );
    check(
        "get($.data.url, { headers: { a: $.configuration.token } });",
        "export default [get(state => state.data.url, state => ({\n  headers: { a: state.configuration.token }\n}))];",
    );
    check(
        "get($.data.endpoint);",
        "export default [get(state => state.data.endpoint)];",
    );
}

#[test]
fn golden_lazy_state_errors() {
    assert_eq!(
        err("fn(s => $.data);"),
        "Lazy State Error: parameter \"s\" should be called \"state\" (1:3)"
    );
    assert_eq!(
        err("fn((a, b) => $.data);"),
        "Lazy State Error: parent has wrong arity (1:3)"
    );
    assert_eq!(
        err("const x = $.data;"),
        "Lazy State Error: Must be inside an operation (1:10)"
    );
    assert_eq!(
        err("$.data = 20;"),
        "Lazy State Error: Must be inside an operation (1:0)"
    );
    assert_eq!(
        err("fn(() => { $.data = 20; })"),
        "Lazy State Error: Must be inside an operation (1:11)"
    );
}

#[test]
fn golden_promises() {
    let src = "get($.data.endpoint).then((s => { console.log(s.data); return state;} ));";
    check(
        src,
        "import { defer as _defer } from \"@openfn/runtime\";\n\nexport default [_defer(\n  get(state => state.data.endpoint),\n  p => p.then((s => { console.log(s.data); return state;} ))\n)];",
    );
    check(
        "each(\n  \"$.data[*]\",\n  post(\"/upsert\", (state) => state.data).then((s) => s)\n)",
        "import { defer as _defer } from \"@openfn/runtime\";\n\nexport default [each(\n  \"$.data[*]\",\n  _defer(post(\"/upsert\", (state) => state.data), p => p.then((s) => s))\n)];",
    );
    let imp = "import { defer as _defer } from \"@openfn/runtime\";\n";
    check(
        "fn(x).then(() => {})",
        &format!("{imp}export default [_defer(fn(x), p => p.then(() => {{}}))];"),
    );
    check(
        "fn(x).catch((e) => e)",
        &format!("{imp}export default [_defer(fn(x), undefined, (e) => e)];"),
    );
    check(
        "fn(x).then(a).then(b)",
        &format!("{imp}export default [_defer(fn(x), p => p.then(a).then(b))];"),
    );
    check(
        "fn(x).catch(e).then(s)",
        &format!("{imp}export default [_defer(fn(x), p => p.then(s), e)];"),
    );
    check(
        "fn(x).catch(e).then(s).catch(e2)",
        &format!("{imp}export default [_defer(fn(x), p => p.then(s).catch(e2), e)];"),
    );
    check(
        "fn(get(x).then(s => s));",
        &format!("{imp}export default [fn(_defer(get(x), p => p.then(s => s)))];"),
    );
    check(
        "fn((state) => { return get().then((s) => s) });",
        "export default [fn((state) => { return get().then((s) => s) })];",
    );
}

#[test]
fn golden_add_imports() {
    check_with(
        "fn();",
        &adaptor(Some(&["fn"]), false),
        "import { fn } from \"@openfn/language-common\";\nexport default [fn()];",
    );
    check_with(
        "fn();",
        &adaptor(Some(&["fn"]), true),
        "import { fn } from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [fn()];",
    );
    check_with(
        "import { fn } from '@openfn/language-common'; fn();",
        &adaptor(Some(&["fn"]), false),
        "import { fn } from '@openfn/language-common';\nexport default [fn()];",
    );
    check_with(
        "import { jam } from '@openfn/language-common'; jam(state);",
        &adaptor(None, false),
        "import { jam } from '@openfn/language-common';\nexport default [jam(state)];",
    );
    check_with(
        "fn(state=> doSomething(state))",
        &adaptor(None, false),
        "import { fn, doSomething } from \"@openfn/language-common\";\nexport default [fn(state=> doSomething(state))];",
    );
    let mut o = adaptor(None, false);
    o.imports.ignore.push("doSomething".into());
    check_with(
        "fn(state=> doSomething(state))",
        &o,
        "import { fn } from \"@openfn/language-common\";\nexport default [fn(state=> doSomething(state))];",
    );
    let mut two = Options::default();
    two.imports.adaptors = vec![
        AdaptorImports {
            name: "adaptor-a".into(),
            exports: Some(vec!["fn".into()]),
            export_all: true,
        },
        AdaptorImports {
            name: "adaptor-b".into(),
            exports: Some(vec!["get".into()]),
            export_all: true,
        },
    ];
    check_with(
        "fn(s => s); get(\"x\");",
        &two,
        "import { get } from \"adaptor-b\";\nexport * from \"adaptor-b\";\nimport { fn } from \"adaptor-a\";\nexport * from \"adaptor-a\";\nexport default [fn(s => s), get(\"x\")];",
    );
    check_with(
        "const { a } = b;\nfn(a);",
        &adaptor(None, true),
        "import { b, fn } from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nconst { a } = b;\nexport default [fn(a)];",
    );
    check_with(
        "get($.data.endpoint);",
        &adaptor(None, true),
        "import { get } from \"@openfn/language-common\";\nexport * from \"@openfn/language-common\";\nexport default [get(state => state.data.endpoint)];",
    );
}

#[test]
fn syntax_errors() {
    assert_eq!(err("fn((s) => { return s )"), "Unexpected token (1:21)");
    assert_eq!(err("fn(() => throw \"e\")"), "Unexpected token (1:9)");
    assert_eq!(err("a a a"), "Unexpected token (1:2)");
    assert_eq!(err("const x = ;"), "Unexpected token (1:10)");
    assert_eq!(err("let let = 1"), "The keyword 'let' is reserved (1:4)");
    // acorn 8.16's words for a keyword used as a name
    assert_eq!(err("const class = 1"), "Unexpected keyword 'class' (1:6)");
    assert_eq!(err("let if = 1"), "Unexpected keyword 'if' (1:4)");
    assert_eq!(err("var new = 2"), "Unexpected keyword 'new' (1:4)");
    assert_eq!(
        err("const enum = 1"),
        "The keyword 'enum' is reserved (1:6)"
    );
    assert_eq!(
        err("let yield = 1"),
        "The keyword 'yield' is reserved (1:4)"
    );
    assert_eq!(err("return 1"), "'return' outside of function (1:0)");
    assert_eq!(err("fn(\"abc"), "Unterminated string constant (1:3)");
    assert_eq!(err("fn(`abc"), "Unterminated template (1:4)");
    assert_eq!(err("/* x"), "Unterminated comment (1:0)");
    assert_eq!(err("fn(1 2)"), "Unexpected token (1:5)");
    assert_eq!(err("fn("), "Unexpected token (1:3)");
    assert_eq!(err("const x = 1\nconst y = ;"), "Unexpected token (2:10)");
    assert_eq!(
        err("const x = 1; const x = 2;"),
        "Identifier 'x' has already been declared (1:19)"
    );
    assert_eq!(
        err("fn(() => {\n  let b;\n  let b;\n})"),
        "Identifier 'b' has already been declared (3:6)"
    );
    assert_eq!(err("break;"), "Unsyntactic break (1:0)");
    assert_eq!(err("with (a) {}"), "'with' in strict mode (1:0)");
    assert_eq!(
        err("fn(() => { delete x; })"),
        "Deleting local variable in strict mode (1:11)"
    );
    let e = compile("fn((s) => { return s )", &Options::default()).unwrap_err();
    assert_eq!(e.for_step("x"), "x: Unexpected token (1:21)");
    assert!(matches!(e, CompileError::Syntax { .. }));
}
