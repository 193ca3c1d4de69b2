//! The precompiled artifact is written once and reused.
#![cfg(feature = "wasm")]

use openfn_sandbox_wasm::{Limits, WasmSandbox, cache};
use serde_json::json;

#[test]
fn the_second_start_loads_the_cached_artifact_and_a_corrupt_one_is_replaced() {
    let guest = openfn_sandbox_wasm::find_guest().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let before = cache::compilations();
    let first = WasmSandbox::load(&guest, dir.path()).expect("first load");
    assert!(!first.from_cache());
    assert_eq!(cache::compilations(), before + 1);
    let artifacts: Vec<_> = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    // the compilation also filled Cranelift's per-function cache (snapshots reuse it)
    let functions = dir.path().join("functions");
    assert!(
        std::fs::read_dir(&functions).is_ok_and(|mut d| d.next().is_some()),
        "{}",
        functions.display()
    );
    assert!(artifacts[0].contains("wasmtime48.0.8"), "{artifacts:?}");

    let second = WasmSandbox::load(&guest, dir.path()).expect("second load");
    assert!(second.from_cache());
    assert_eq!(cache::compilations(), before + 1, "no second compilation");
    let out = second
        .run(
            "export default [s => ({ n: s.n + 1 })];",
            &json!({"n": 1}),
            &Limits::default(),
        )
        .expect("run");
    assert_eq!(out.state, Some(json!({"n": 2})));

    // A corrupt artifact is replaced by a fresh compilation (one test: the counter is
    // process-wide).
    let wasm = std::fs::read(&guest).expect("guest");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = WasmSandbox::engine().expect("engine");
    let path = dir.path().join(cache::artifact_name(&engine, &wasm));
    std::fs::write(&path, b"not an artifact").expect("write");
    let sandbox = WasmSandbox::from_bytes(&wasm, dir.path()).expect("load");
    assert!(!sandbox.from_cache());
    assert_eq!(cache::compilations(), before + 2);
    assert!(std::fs::metadata(&path).expect("artifact").len() > 1000);
    assert!(
        WasmSandbox::from_bytes(&wasm, dir.path())
            .expect("reload")
            .from_cache()
    );
}
