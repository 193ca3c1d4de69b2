//! Pre-initialised snapshots: a plan's adaptor set is loaded once into a snapshot of the
//! guest's memory and every run of the set starts from it, isolated from the runs before it.
#![cfg(feature = "wasm")]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openfn_sandbox_wasm::{Limits, PlanOptions, PlanOutcome, SnapshotUse, WasmSandbox};
use serde_json::{Value, json};

const NAME: &str = "@openfn/language-snap";

/// A linked test adaptor in `dir` at `version`: `bump()` counts calls in module state and
/// returns a fresh `Math.random()`; loading it draws a random number too (so the generator's
/// state is in the snapshot).
fn adaptor(dir: &Path, version: &str, body: &str) -> PathBuf {
    let root = dir.join("language-snap");
    std::fs::create_dir_all(&root).expect("adaptor dir");
    let package = json!({"name": NAME, "version": version, "type": "module",
        "exports": {".": {"import": "./index.js"}}});
    std::fs::write(root.join("package.json"), package.to_string()).expect("package.json");
    std::fs::write(root.join("index.js"), body).expect("index.js");
    root.canonicalize().expect("canonical")
}

const COUNTING: &str = "export const drawnAtLoad = Math.random();\n\
    let n = 0;\n\
    export function bump() { return (s) => ({ ...s, n: ++n, r: Math.random() }); }\n";

/// A job using `bump()`, which also reports and sets a global of the job realm and of the
/// adaptor realm's `globalThis` (through the operation's own closure).
fn plan() -> Value {
    let job = format!(
        "import {{ bump }} from \"{NAME}\";\nexport * from \"{NAME}\";\n\
         export default [bump(), (s) => {{ const seen = globalThis.leak ?? null; globalThis.leak = 'run'; return {{ ...s, seen }}; }}];"
    );
    json!({"workflow": {"steps": [{"id": "a", "expression": job}]}})
}

fn options(root: &Path) -> PlanOptions {
    PlanOptions {
        linked: BTreeMap::from([(NAME.to_owned(), root.to_path_buf())]),
        ..PlanOptions::default()
    }
}

fn run(sandbox: &WasmSandbox, plan: &Value, options: &PlanOptions) -> PlanOutcome {
    sandbox
        .run_plan(plan, Some(&json!({})), options, &Limits::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fresh_sandbox(cache: &Path) -> WasmSandbox {
    let guest = openfn_sandbox_wasm::find_guest().unwrap_or_else(|e| panic!("{e}"));
    // the guest's own artifact comes from the shared test cache (no compilation here)
    let wasm = std::fs::read(&guest).expect("guest");
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
    let engine = WasmSandbox::engine().expect("engine");
    let name = openfn_sandbox_wasm::cache::artifact_name(&engine, &wasm);
    std::fs::create_dir_all(cache).expect("cache dir");
    if let Ok(bytes) = std::fs::read(shared.join(&name)) {
        std::fs::write(cache.join(&name), bytes).expect("copy artifact");
    }
    WasmSandbox::from_bytes(&wasm, cache).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn runs_start_from_the_snapshot_and_do_not_see_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(dir.path(), "1.0.0", COUNTING);
    let cache = dir.path().join("cache");
    let sandbox = fresh_sandbox(&cache);
    let (plan, options) = (plan(), options(&root));

    let first = run(&sandbox, &plan, &options);
    assert!(
        matches!(first.snapshot, SnapshotUse::Built { .. }),
        "{:?}",
        first.snapshot
    );
    assert!(first.prepared, "the guest ran in the prepared runtime");
    let second = run(&sandbox, &plan, &options);
    assert_eq!(second.snapshot, SnapshotUse::Memory);
    assert!(second.prepared);
    for out in [&first, &second] {
        let state = out
            .state
            .as_ref()
            .unwrap_or_else(|| panic!("{:?}", out.error));
        // the adaptor's counter and the globals start from the snapshot in every run
        assert_eq!(state["n"], 1, "{state}");
        assert_eq!(state["seen"], Value::Null, "{state}");
    }
    let random = |o: &PlanOutcome| o.state.as_ref().map(|s| s["r"].clone());
    assert_ne!(
        random(&first),
        random(&second),
        "Math.random is reseeded per run"
    );

    // without the snapshot: the same result, the adaptor loaded by the run itself
    let plain = run(
        &sandbox,
        &plan,
        &PlanOptions {
            snapshot: false,
            ..options.clone()
        },
    );
    assert_eq!(plain.snapshot, SnapshotUse::Off);
    assert!(!plain.prepared);
    assert_eq!(plain.state.as_ref().map(|s| &s["n"]), Some(&json!(1)));
    assert!(first.fuel_used > second.fuel_used || plain.fuel_used > second.fuel_used);

    // another process: the snapshot comes from the artifact cache
    let again = fresh_sandbox(&cache);
    let third = run(&again, &plan, &options);
    assert_eq!(third.snapshot, SnapshotUse::Disk);
    assert!(third.prepared);
    assert_eq!(third.state.as_ref().map(|s| &s["n"]), Some(&json!(1)));
}

#[test]
fn a_changed_adaptor_package_makes_a_new_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(dir.path(), "1.0.0", COUNTING);
    let sandbox = fresh_sandbox(&dir.path().join("cache"));
    let (plan, options) = (plan(), options(&root));
    assert!(matches!(
        run(&sandbox, &plan, &options).snapshot,
        SnapshotUse::Built { .. }
    ));
    assert_eq!(run(&sandbox, &plan, &options).snapshot, SnapshotUse::Memory);
    // a new version installed over it: new code, new package.json
    adaptor(
        dir.path(),
        "1.0.1",
        "let n = 41;\nexport function bump() { return (s) => ({ ...s, n: ++n }); }\n",
    );
    let out = run(&sandbox, &plan, &options);
    assert!(
        matches!(out.snapshot, SnapshotUse::Built { .. }),
        "{:?}",
        out.snapshot
    );
    assert_eq!(out.state.as_ref().map(|s| &s["n"]), Some(&json!(42)));
}

#[test]
fn an_adaptor_that_cannot_be_prepared_falls_back_to_the_plain_guest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(
        dir.path(),
        "1.0.0",
        "throw new Error('boom while loading');\nexport const x = 1;\n",
    );
    let options = options(&root);
    // the plan does not use the adaptor: the run itself succeeds
    let plan = json!({"workflow": {"steps": [{"id": "a", "expression": "export default [s => ({ ...s, ok: true })];"}]}});
    let sandbox = common::sandbox();
    for _ in 0..2 {
        let out = run(sandbox, &plan, &options);
        match &out.snapshot {
            SnapshotUse::Fallback { reason } => assert!(reason.contains("boom"), "{reason}"),
            other => panic!("expected a fallback, got {other:?}"),
        }
        assert!(!out.prepared);
        assert_eq!(out.state.as_ref().map(|s| &s["ok"]), Some(&json!(true)));
    }
}

#[test]
fn fuel_and_memory_limits_hold_from_a_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(dir.path(), "1.0.0", COUNTING);
    let options = options(&root);
    let sandbox = common::sandbox();
    let step = |expression: &str| {
        json!({"workflow": {"steps": [{"id": "a", "expression": format!(
            "import {{ bump }} from \"{NAME}\";\nexport default [bump(), {expression}];"
        )}]}})
    };
    let warm = run(sandbox, &step("s => s"), &options);
    assert!(warm.snapshot.used(), "{:?}", warm.snapshot);
    let limits = Limits {
        fuel: 2_000_000_000,
        ..Limits::default()
    };
    let out = sandbox
        .run_plan(
            &step("s => { try { for (;;) {} } catch (e) {} return s; }"),
            Some(&json!({})),
            &options,
            &limits,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.snapshot, SnapshotUse::Memory);
    assert_eq!(
        out.error.as_ref().map(|e| &e["name"]),
        Some(&json!("TimeoutError"))
    );
    let out = sandbox
        .run_plan(
            &step("s => { const a = []; for (;;) { a.push(new Array(1e5).fill(1)); } }"),
            Some(&json!({})),
            &options,
            &Limits {
                memory_bytes: 96 * 1024 * 1024,
                ..Limits::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.snapshot.used(), "{:?}", out.snapshot);
    assert_eq!(
        out.error.as_ref().map(|e| &e["name"]),
        Some(&json!("OOMError"))
    );
}

#[test]
fn concurrent_first_runs_of_a_set_build_its_snapshot_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(dir.path(), "1.0.0", COUNTING);
    let sandbox = fresh_sandbox(&dir.path().join("cache"));
    let (plan, options) = (plan(), options(&root));
    let uses: Vec<SnapshotUse> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| run(&sandbox, &plan, &options).snapshot))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("run thread"))
            .collect()
    });
    let built = uses
        .iter()
        .filter(|u| matches!(u, SnapshotUse::Built { .. }))
        .count();
    assert_eq!(built, 1, "{uses:?}");
    assert!(uses.contains(&SnapshotUse::Memory), "{uses:?}");
}

#[test]
fn a_memory_limit_below_the_snapshot_runs_as_without_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = adaptor(dir.path(), "1.0.0", COUNTING);
    let (plan, options) = (plan(), options(&root));
    let sandbox = common::sandbox();
    let warm = run(sandbox, &plan, &options);
    assert!(warm.snapshot.used(), "{:?}", warm.snapshot);
    let tiny = Limits {
        memory_bytes: 2 * 1024 * 1024,
        ..Limits::default()
    };
    let with = sandbox
        .run_plan(&plan, Some(&json!({})), &options, &tiny)
        .unwrap_or_else(|e| panic!("{e}"));
    match &with.snapshot {
        SnapshotUse::Fallback { reason } => assert!(reason.contains("memory limit"), "{reason}"),
        other => panic!("expected a fallback, got {other:?}"),
    }
    let without = sandbox
        .run_plan(
            &plan,
            Some(&json!({})),
            &PlanOptions {
                snapshot: false,
                ..options.clone()
            },
            &tiny,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let name = |o: &PlanOutcome| o.error.as_ref().map(|e| e["name"].clone());
    assert_eq!(name(&with), name(&without));
    assert_eq!(name(&with), Some(json!("OOMError")));
}
