//! Shared by the wasm tier's tests: the guest (built by crates/sandbox-wasm-guest/build.sh)
//! loaded through a cache under the test target dir, so only the first test compiles it.

#![allow(dead_code, reason = "each test file uses a part")]

use std::sync::OnceLock;

use openfn_sandbox_wasm::{Limits, RunOutcome, WasmSandbox};
use serde_json::{Value, json};

pub fn sandbox() -> &'static WasmSandbox {
    static SANDBOX: OnceLock<WasmSandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let guest = openfn_sandbox_wasm::find_guest().unwrap_or_else(|e| panic!("{e}"));
        let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
        WasmSandbox::load(&guest, &cache).unwrap_or_else(|e| panic!("{e}"))
    })
}

pub fn run_with(source: &str, state: Value, limits: Limits) -> RunOutcome {
    sandbox()
        .run(source, &state, &limits)
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn run(source: &str) -> RunOutcome {
    run_with(source, json!({"data": {}}), Limits::default())
}
