//! The wasm sandbox tier (preview): QuickJS compiled to `wasm32-wasip1`
//! (`crates/sandbox-wasm-guest`), run by wasmtime.
//!
//! Compared with the native tier (QuickJS in a child process), a job here runs inside a wasm
//! instance: CPU is limited by wasmtime **fuel** (deterministic; the fuel a run used is
//! reported), memory by a `StoreLimits` cap on the instance's linear memory (exceeding it traps:
//! the job cannot catch it, the host ends the run with `OOMError`), and the guest has **no
//! ambient authority**: no preopened directories, sockets, environment or arguments; its only
//! imports are the `openfn` host functions (inputs and framed messages) and a handful of WASI
//! p1 functions the host answers itself (clock, random, stdout/stderr into a capped buffer).
//!
//! The wasmtime part is behind the `wasm` cargo feature; without it this crate only holds the
//! message and classification types, so default builds never compile wasmtime.
//!
//! The compiled module is cached ([`cache`]): the first start compiles it with Cranelift
//! (seconds) and writes `Module::serialize`'s artifact, keyed by wasmtime's version, the
//! engine's compatibility hash and the module's SHA-256; later starts deserialize it
//! (milliseconds).

mod classify;
mod error;
mod message;

#[cfg(feature = "wasm")]
pub mod cache;
#[cfg(feature = "wasm")]
mod files;
#[cfg(feature = "wasm")]
mod functions;
#[cfg(feature = "wasm")]
mod host;
#[cfg(feature = "wasm")]
mod plan;
#[cfg(feature = "wasm")]
mod sandbox;
#[cfg(feature = "wasm")]
mod snapshot;
#[cfg(feature = "wasm")]
mod snapshot_store;

pub use classify::{IMPORT_REFUSED, classify, oom, timeout, too_large};
pub use error::WasmError;
#[cfg(feature = "wasm")]
pub use files::{MessageHook, PlanResolver};
pub use message::{GuestError, GuestMessage, LogLine};
#[cfg(feature = "wasm")]
pub use plan::{PlanEvent, PlanOptions, PlanOutcome};
#[cfg(feature = "wasm")]
pub use sandbox::{Limits, RunOutcome, WasmSandbox};
#[cfg(feature = "wasm")]
pub use snapshot::SnapshotUse;

/// Whether this build has the wasm tier (the `wasm` feature).
pub const ENABLED: bool = cfg!(feature = "wasm");

/// The guest module's file name.
pub const GUEST_FILE: &str = "openfn-sandbox-wasm-guest.wasm";

/// Where the guest module is looked for, in order: `$OPENFN_WASM_GUEST`; next to the running
/// executable; the workspace's `target/wasm-guest` build (crates/sandbox-wasm-guest/build.sh).
pub fn guest_candidates() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("OPENFN_WASM_GUEST") {
        out.push(p.into());
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        out.push(dir.join(GUEST_FILE));
    }
    out.push(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/wasm-guest/wasm32-wasip1/release")
            .join(GUEST_FILE),
    );
    out
}

/// The first existing [`guest_candidates`] path.
pub fn find_guest() -> Result<std::path::PathBuf, WasmError> {
    let candidates = guest_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or(WasmError::GuestMissing { candidates })
}
