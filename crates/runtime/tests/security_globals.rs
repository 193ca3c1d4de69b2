//! What job code can reach of the adaptor realm: its global object (lodash runs in sloppy
//! mode, so a lodash method called with `undefined` as `this` returns it), objects along the
//! prototype chains of adaptor values, and what it can change there. Nothing of the host is
//! reachable; changes live exactly as long as the run (as on the kit), never into the next.

mod common;
mod node;
mod security;

use openfn_runtime::ExecutionPlan;
use security::{Sandbox, assert_security_error, job};
use serde_json::json;

/// The adaptor realm's global object, through lodash's sloppy-mode `this`.
const GLOBAL: &str = "_.noConflict.call(undefined)";

#[test]
fn the_adaptor_global_reached_through_lodash_holds_no_host_internals() {
    let sb = Sandbox::new();
    // a breadth-first walk over every property (getters not called) of everything reachable
    // from the adaptor realm's global object: no host object (the loader's internals, the
    // Rust functions of the host) and no module system
    let walk = r#"
        const g = GLOBAL;
        const seen = new Set();
        const queue = [[g, 'global', 0]];
        const found = [];
        const internal = ['compileFile', 'compileInternal', 'readText', 'esmExports', 'exportNames', 'codegenAllowed', 'createRequire'];
        while (queue.length) {
          const [o, path, depth] = queue.shift();
          if (seen.has(o)) continue;
          seen.add(o);
          let keys = [];
          try { keys = Reflect.ownKeys(o); } catch (e) {}
          for (const k of keys) {
            const name = String(k);
            if (internal.includes(name) || name.startsWith('__openfn')) found.push(path + '.' + name);
            let d;
            try { d = Object.getOwnPropertyDescriptor(o, k); } catch (e) {}
            const v = d && d.value;
            if (depth < 5 && v !== null && (typeof v === 'object' || typeof v === 'function')) queue.push([v, path + '.' + name, depth + 1]);
          }
          let p;
          try { p = Object.getPrototypeOf(o); } catch (e) {}
          if (p && depth < 5) queue.push([p, path + '.__proto__', depth + 1]);
        }
        s.found = found;
        s.sameGlobal = g === _.noConflict.call(null);
        s.visited = seen.size;
        s.realm = [typeof g.require, typeof g.module, Object.keys(g.process.env).length, g.process.pid];
    "#
    .replace("GLOBAL", GLOBAL);
    let out = sb.run(
        &job("fn, _", "", &format!("fn((s) => {{ {walk}; return s; }})")),
        json!({}),
    );
    assert_eq!(out["found"], json!([]), "{out}");
    assert_eq!(out["sameGlobal"], true, "{out}");
    assert!(
        out["visited"].as_u64() > Some(100),
        "the walk went through the realm: {out}"
    );
    assert_eq!(
        out["realm"],
        json!(["undefined", "undefined", 0, 1]),
        "{out}"
    );
    sb.assert_next_run_unaffected();
}

#[test]
fn the_adaptor_global_gives_no_code_generation() {
    let sb = Sandbox::new();
    for code in [
        "GLOBAL.Function('return 1')()",
        "GLOBAL.eval('1 + 1')",
        "new GLOBAL.Function('return 1')",
        "GLOBAL.setTimeout.constructor('return 1')",
        "_.attempt(GLOBAL.Function, 'return 1')()",
        "GLOBAL.Reflect.construct(GLOBAL.Function, ['return 1'])",
    ] {
        let code = code.replace("GLOBAL", GLOBAL);
        let out = sb.run(
            &job("fn, _", "", &format!("fn((s) => {{ {code}; return s; }})")),
            json!({}),
        );
        if out["thrown"].is_null() {
            // lodash's attempt returns the error it caught: calling it throws a TypeError
            assert_eq!(
                out["errors"]["job"]["name"], "RuntimeError",
                "{code}: {out}"
            );
        } else {
            assert_security_error(&out, &code);
        }
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn adaptor_objects_lead_only_to_guarded_intrinsics() {
    let sb = Sandbox::new();
    for code in [
        "Object.getPrototypeOf(fn).constructor('return 1')",
        "fn.constructor.constructor('return 1')",
        "Object.getPrototypeOf(each('$.x', fn((s) => s))).constructor('return 1')",
        "Object.getPrototypeOf(dateFns.format).constructor('return 1')",
        "Object.getPrototypeOf(_.chunk([1], 1)).constructor.constructor('return 1')",
        "(async () => {}).constructor.call(null, 'return 1')",
    ] {
        let out = sb.run(
            &job(
                "fn, each, _, dateFns",
                "",
                &format!("fn((s) => {{ {code}; return s; }})"),
            ),
            json!({}),
        );
        assert_security_error(&out, code);
    }
    sb.assert_next_run_unaffected();
}

/// The adaptor realm's intrinsics (`Object.prototype`, `Array.prototype`, `JSON`, …) are frozen
/// once the realm is set up, so no job pollutes them. What else a step changes there (its
/// global object, adaptor module state such as lodash's) lives for the run, as on the kit (one
/// adaptor realm per run, shared by its steps), and nothing of it reaches the next run.
#[test]
fn adaptor_realm_pollution_lives_for_the_run_only() {
    let sb = Sandbox::new();
    let step = |id: &str, ops: &str, next: Option<&str>| {
        let mut s = json!({"id": id, "expression": job(
            "fn, _",
            "import { probe } from '@openfn/hostile-fixture';",
            ops,
        )});
        if let Some(n) = next {
            s["next"] = json!(n);
        }
        s
    };
    let plan: ExecutionPlan = serde_json::from_value(json!({"workflow": {"steps": [
        step(
            "a",
            "fn((s) => { const proto = Object.getPrototypeOf(Object.getPrototypeOf(fn));
                const refused = [];
                for (const f of [() => { proto.polluted = 'yes'; }, () => { proto.toString = () => 'x'; },
                                 () => { Object.getPrototypeOf(_.toArray('ab')).polluted = 1; },
                                 () => { _.noConflict.call(undefined).JSON = {}; }]) {
                  try { f(); refused.push('no'); } catch (e) { refused.push(e.name); }
                }
                _.noConflict.call(undefined).attacked = 1; _.polluted = 'yes';
                return { ...s, refused }; })",
            Some("b"),
        ),
        step(
            "b",
            "fn((s) => ({ ...s, inRun: [probe('polluted'), _.noConflict.call(undefined).Object().polluted,
                typeof _.noConflict.call(undefined).attacked, _.polluted] }))",
            None,
        ),
    ]}}))
    .expect("plan");
    let out = sb.run_plan(&plan, json!({}), sb.options());
    assert_eq!(
        out["refused"],
        json!(["TypeError", "TypeError", "TypeError", "TypeError"]),
        "{out}"
    );
    assert_eq!(out["inRun"], json!([null, null, "number", "yes"]), "{out}");
    sb.assert_next_run_unaffected();
}
