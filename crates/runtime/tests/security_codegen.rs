//! Code generation: eval and every function constructor, in the job realm and through adaptor
//! objects and their prototype chains; lodash templates, jsonpath scripts, `vm` and ajv with
//! the real adaptors. Each attack ends with a SecurityError (severity kill) and no effect; the
//! only code generation left is ajv compiling the schemas language-common's `validate` hands
//! it, while the realm's intrinsics are untouched.

mod common;
mod node;
mod security;

use common::*;
use openfn_runtime::{Input, Severity};
use security::{Sandbox, assert_security_error, job as real_job};
use serde_json::json;

#[test]
fn eval_and_function_constructors_are_blocked() {
    for code in [
        "eval('1')",
        "new Function('return 1')",
        "Function('return 1')()",
        "({}).constructor.constructor('return this')()",
        "(async function () {}).constructor('return 1')",
        "(function* () {}).constructor('yield 1')",
        "(async function* () {}).constructor('yield 1')",
        "(() => {}).constructor('return 1')",
        "Reflect.construct(Function, ['return 1'])",
    ] {
        let e = aborted(
            &single(&format!("export default [(s) => {{ {code}; return s; }}];")),
            Input::Empty,
        );
        assert_eq!(e.name, "SecurityError", "{code}");
        assert_eq!(e.severity, Severity::Kill);
        assert_eq!(e.message, "Illegal eval statement detected");
    }
}

#[test]
fn adaptor_realm_function_constructors_are_blocked_for_jobs() {
    // Values from the adaptor realm carry that realm's intrinsics: job code must not be able
    // to generate code through them.
    for code in [
        "fn.constructor('return globalThis')()",
        "new fn.constructor('return 1')",
        "Reflect.construct(fn.constructor, ['return 1'])",
        "fn.constructor.call(null, 'return 1')",
        "fn.constructor.bind(null, 'return 1')()",
        "['return 1'].map(fn.constructor)",
        "adaptorObject.constructor.constructor('return 1')",
        "Object.getPrototypeOf(adaptorObject.nested).constructor.constructor('return 1')",
        "Object.getPrototypeOf(execute(fn((s) => s))).constructor('return 1')",
        "Object.getPrototypeOf(Object.getPrototypeOf(each('x', fn((s) => s)))).constructor('return 1')",
        "Object.getPrototypeOf(async function () {}).constructor('return 1')",
        "template('return globalThis')",
        "indirect(fn.constructor, 'return 1')",
        "deputy(fn.constructor, 'return 1')",
        "deputy(Object.getPrototypeOf(execute).constructor, 'return 1')",
    ] {
        let p = single(&job(
            "fn, each, execute, template, indirect, deputy, adaptorObject",
            &format!("(s) => {{ {code}; return s; }}"),
        ));
        let e = match exec(&p, Input::Empty, options()).0 {
            Err(openfn_runtime::RunError::Aborted(e)) => *e,
            other => panic!("{code}: expected abort, got {other:?}"),
        };
        assert_eq!(e.name, "SecurityError", "{code}: {e:?}");
        assert_eq!(e.severity, Severity::Kill, "{code}");
        assert_eq!(e.message, "Illegal eval statement detected", "{code}");
    }
}

#[test]
fn adaptor_realm_function_prototype_constructors_are_always_blocked() {
    // Reached through an adaptor's async operation, and even from an allowed library.
    for code in [
        "Object.getPrototypeOf(compiledAsync('return 1')).constructor('return 1')",
        "constructed('return 1')()",
    ] {
        let e = aborted(
            &single(&job(
                "compiledAsync, constructed",
                &format!("(s) => {{ {code}; return s; }}"),
            )),
            Input::Empty,
        );
        assert_eq!(e.name, "SecurityError", "{code}: {e:?}");
    }
}

#[test]
fn the_guard_survives_adaptor_code_replacing_error_globals() {
    // the realm's intrinsics are frozen once it is set up: not even adaptor code replaces
    // `Error`, so the guard's view of the stack stays the engine's
    let out = ok(
        &single(&job(
            "clobberThenGenerate",
            "clobberThenGenerate('return 1')",
        )),
        Input::Empty,
    );
    assert_eq!(out["errors"]["job1"]["name"], "AdaptorError", "{out}");
    assert_eq!(
        out["errors"]["job1"]["message"], "'Error' is read-only",
        "{out}"
    );
}

#[test]
fn allowed_libraries_generate_code_in_the_adaptor_realm() {
    // The fixture's `node_modules/ajv/compile.js` stands for ajv, which compiles schemas with
    // `new Function`: its own calls work, synchronous, async and `eval`.
    let out = ok(
        &single(&job(
            "compiled, compiledAsync, evaluated",
            "compiled('return data.a * 2'), compiledAsync('return await Promise.resolve(data.compiled + 1)'), evaluated('6 * 7')",
        )),
        state(json!({ "data": { "a": 21 } })),
    );
    assert_eq!(
        out["data"],
        json!({ "a": 21, "compiled": 43, "evaluated": 42 })
    );
}

#[test]
fn codegen_rule_matches_only_ajv_called_by_language_common() {
    use openfn_runtime::codegen_allowed;
    let common = "/repo/node_modules/@openfn/language-common_3.3.4/dist/index.js";
    let ajv =
        "/repo/node_modules/@openfn/language-common_3.3.4/node_modules/ajv/dist/compile/index.js";
    let core = "/repo/node_modules/ajv/dist/core.js";
    for frames in [
        vec![ajv, core, common],
        vec![ajv, common, "vm:module(0)"],
        vec![core, "/monorepo/packages/common/dist/index.js"],
        vec![
            ajv,
            "/x/node_modules/@openfn/language-common/dist/index.cjs",
        ],
    ] {
        assert!(codegen_allowed(&frames), "{frames:?}");
    }
    for frames in [
        // no language-common below ajv: the job, another library, nothing
        vec![ajv, core, "vm:module(0)"],
        vec![ajv, "vm:module(0)", common],
        vec![
            ajv,
            "/repo/node_modules/@openfn/hostile-fixture/index.js",
            common,
        ],
        vec![ajv, core],
        // language-common itself, or a dependency of it, is not ajv
        vec![common],
        vec!["/repo/node_modules/lodash/lodash.js", common],
        vec![
            ajv,
            "/repo/node_modules/@openfn/language-common_3.3.4/node_modules/lodash/lodash.js",
        ],
        vec!["/repo/node_modules/ajv-formats/dist/index.js", common],
        vec!["/repo/node_modules/x/../ajv/dist/core.js", common],
        vec!["node_modules/ajv/dist/core.js", common],
        vec![
            ajv,
            "/repo/node_modules/@openfn/language-common_3.3.4/../x.js",
        ],
        vec!["", common],
        vec![],
    ] {
        assert!(!codegen_allowed(&frames), "{frames:?}");
    }
}

#[test]
fn lodash_templates_are_refused() {
    let sb = Sandbox::new();
    for code in [
        "_.template('<%= 1 + 1 %>')()",
        "_.template('<%= data.x %>', { variable: 'data' })({ x: 1 })",
        "_.templateSettings.interpolate = /x/g; _.template('x')",
    ] {
        let out = sb.run(
            &real_job("fn, _", "", &format!("fn((s) => {{ {code}; return s; }})")),
            json!({}),
        );
        assert_security_error(&out, code);
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn jsonpath_scripts_cannot_generate_code() {
    let sb = Sandbox::new();
    // jsonpath-plus evaluates filter scripts with its own interpreter; what would reach a code
    // generator is refused, and nothing the script tries takes effect
    for path in [
        "$.data[?(@.constructor.constructor('globalThis.attacked = 1')())]",
        "$..[?(@.__proto__.constructor.constructor('globalThis.attacked = 1')())]",
        "$.data[?((function(){ globalThis.attacked = 1; return true; })())]",
    ] {
        let out = sb.run(
            &real_job(
                "fn, each",
                "import { probe } from '@openfn/hostile-fixture';",
                &format!(
                    "each({path:?}, fn((s) => s)), fn((s) => ({{ ...s, attacked: typeof globalThis.attacked, adaptorSide: probe('attacked') }}))"
                ),
            ),
            json!({"data": [{"a": 1}]}),
        );
        let refused = out["thrown"]["name"].is_string() || out["errors"]["job"]["name"].is_string();
        assert!(refused || out["attacked"] == "undefined", "{path}: {out}");
        assert_ne!(out["thrown"]["name"], "RunError", "{path}: {out}");
        assert!(out["adaptorSide"].is_null(), "{path}: {out}");
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn vm_is_subject_to_the_codegen_rule() {
    let sb = Sandbox::new();
    for code in [
        "load('vm').runInNewContext('globalThis.attacked = 1')",
        "new (load('vm').Script)('1 + 1').runInThisContext()",
        "load('node:vm').compileFunction('return 1')",
    ] {
        let out = sb.run(
            &real_job(
                "fn",
                "import { load } from '@openfn/hostile-fixture';",
                &format!("fn((s) => {{ {code}; return s; }})"),
            ),
            json!({}),
        );
        assert_security_error(&out, code);
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn validate_still_compiles_schemas_with_ajv() {
    let sb = Sandbox::new();
    let out = sb.run(
        &real_job(
            "validate",
            "",
            "validate({ type: 'object', required: ['a'], properties: { n: { type: 'number', minimum: 2 } } }, 'data'),
             validate({ $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'x', type: 'array' }, 'data')",
        ),
        json!({"data": {"b": 1, "n": 1}}),
    );
    let errors = &out["validationErrors"];
    assert_eq!(errors.as_array().map(Vec::len), Some(2), "{out}");
    assert_eq!(
        errors[0]["errors"][0]["message"], "must have required property 'a'",
        "{out}"
    );
    // the draft 2020-12 instance (its meta-schemas compiled deeper than QuickJS records)
    assert_eq!(errors[1]["errors"][0]["message"], "must be array", "{out}");
}

#[test]
fn ajv_with_job_supplied_options_is_refused() {
    let sb = Sandbox::new();
    let ajv = sb.ajv_dir().to_string_lossy().into_owned();
    let attack = |how: &str| {
        format!(
            "fn((s) => {{ const ajvDir = {ajv:?}; const Ajv = load(ajvDir).default; {how}; return s; }})"
        )
    };
    for how in [
        // the job builds ajv with a code processor: its source would be compiled
        "new Ajv({ code: { process: () => 'globalThis.attacked = 1; return () => true' } }).compile({ type: 'object' })",
        // plain ajv called by the job itself (not by validate)
        "new Ajv().compile({ type: 'object' })",
        // ajv called back through another adaptor
        "callWith((x) => new Ajv().compile(x), { type: 'object' })",
        // compilations deeper than the 64 call sites QuickJS records: the whole stack counts
        "let d = { type: 'string' }; for (let i = 0; i < 30; i++) d = { type: 'object', properties: { a: d } }; new Ajv({ code: { process: (c) => 'globalThis.attacked = 1;' + c } }).compile(d)",
        "new (load(ajvDir + '/dist/2020.js').default)({ code: { process: (c) => 'globalThis.attacked = 1;' + c } }).compile({ type: 'object' })",
    ] {
        let out = sb.run(
            &real_job(
                "fn",
                "import { load, callWith } from '@openfn/hostile-fixture';",
                &attack(how),
            ),
            json!({}),
        );
        assert_security_error(&out, how);
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn ajv_options_through_prototype_pollution_are_refused() {
    // `new Ajv()` inside validate reads its options from a plain object: a job that polluted
    // the adaptor realm's Object.prototype with `code.process` would choose the code it
    // compiles. The realm's intrinsics are frozen once it is set up (and code generation is
    // off should they change anyway): the pollution fails, validate compiles as usual, and
    // the code the attack tried to have compiled never runs.
    let sb = Sandbox::new();
    for pollute in [
        "Object.getPrototypeOf(Object.getPrototypeOf(fn)).code = { process: () => 'globalThis.attacked = 1; return () => true' }",
        "Object.defineProperty(Object.getPrototypeOf(Object.getPrototypeOf(fn)), 'code', { get() { return { process: () => 'globalThis.attacked = 1; return () => true' }; } })",
        "Object.getPrototypeOf(Object.getPrototypeOf(fn)).toString = () => 'globalThis.attacked = 1'",
        "g.JSON = { stringify: () => '(globalThis.attacked = 1)', parse: JSON.parse }",
        "g.JSON.stringify = () => '(globalThis.attacked = 1)'",
        "Object.getPrototypeOf(_.toArray('ab')).join = () => 'globalThis.attacked = 1'",
    ] {
        let out = sb.run(
            &real_job(
                "fn, validate, _",
                "",
                &format!(
                    "fn(async (s) => {{ const g = _.noConflict.call(undefined);
                        try {{ {pollute}; s.polluted = true; }} catch (e) {{ s.polluted = e.name; }}
                        try {{ await validate({{ type: 'object', properties: {{ a: {{ type: 'string' }} }} }}, 'data')(s); s.outcome = 'validated'; }}
                        catch (e) {{ s.outcome = e.message; }}
                        s.attacked = typeof g.attacked; return s; }})"
                ),
            ),
            json!({"data": {}}),
        );
        assert_eq!(out["polluted"], "TypeError", "{pollute}: {out}");
        assert_eq!(out["outcome"], "validated", "{pollute}: {out}");
        assert_eq!(out["attacked"], "undefined", "{pollute}: {out}");
    }
    sb.assert_next_run_unaffected();
}
