//! The wasm tier's sandbox: one compiled guest, one fresh instance (and store) per run.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openfn_lexicon::error::{ErrorClass, SerializedError};
use serde_json::Value;
use sha2::Digest;
use wasmtime::{
    Config, Engine, InstancePre, Linker, Module, OptLevel, Store, StoreLimitsBuilder, Trap,
};

use crate::cache::{self, Origin};
use crate::classify::{classify, oom, timeout, too_large};
use crate::error::WasmError;
use crate::files::GuestAccess;
use crate::functions::FunctionCache;
use crate::host::{self, Exit, Host, Limiter, OutputTooLarge};
use crate::message::{GuestMessage, LogLine};
use crate::snapshot_store::Snapshots;

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// wasmtime fuel (about one unit per wasm instruction); used up → `TimeoutError`.
    pub fuel: u64,
    /// The cap on the instance's linear memory in bytes; reached → `OOMError`.
    pub memory_bytes: usize,
    /// The cap on everything the guest sends (logs and the final state) in bytes; exceeded →
    /// `StateTooLargeError`.
    pub output_bytes: usize,
}

impl Default for Limits {
    /// 50 G fuel (tens of seconds of JS), 256 MiB of memory, 64 MiB of output.
    fn default() -> Self {
        Self {
            fuel: 50_000_000_000,
            memory_bytes: 256 * 1024 * 1024,
            output_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The final state, when every operation ran.
    pub state: Option<Value>,
    /// The error, classified like the native tier's, when one ended the run.
    pub error: Option<SerializedError>,
    /// The job's console lines, in order.
    pub logs: Vec<LogLine>,
    /// Fuel the run used.
    pub fuel_used: u64,
    /// The instance's largest linear memory in bytes.
    pub memory_peak: usize,
    /// Wall time of the run (instantiation included).
    pub duration: Duration,
    /// What the guest wrote to stdout/stderr (diagnostics; capped).
    pub stdio: String,
}

/// The guest module, compiled (or loaded from the artifact cache) once, ready to instantiate.
pub struct WasmSandbox {
    pub(crate) engine: Engine,
    /// Fuel metering is on (always, but for [`WasmSandbox::unmetered_for_measurement`]).
    pub(crate) fuel: bool,
    pre: InstancePre<Host>,
    origin: Origin,
    /// The guest's bytes (snapshots instrument them) and their SHA-256 (hex).
    pub(crate) wasm: Vec<u8>,
    pub(crate) wasm_digest: String,
    /// The artifact cache directory (snapshots are cached there too).
    pub(crate) cache_dir: PathBuf,
    pub(crate) linker: Linker<Host>,
    /// Pre-initialised snapshots by adaptor set ([`crate::snapshot`]).
    pub(crate) snapshots: Snapshots,
}

impl std::fmt::Debug for WasmSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmSandbox")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

pub(crate) fn wt(e: wasmtime::Error) -> WasmError {
    WasmError::Wasmtime(format!("{e:#}"))
}

impl WasmSandbox {
    /// The engine settings of the tier (fuel metering on; part of the cache key).
    pub fn engine() -> Result<Engine, WasmError> {
        Self::engine_with(true, None)
    }

    /// The engine, with Cranelift's per-function cache under `cache_dir` when given (it does
    /// not change the engine's compatibility hash).
    fn engine_with(fuel: bool, cache_dir: Option<&Path>) -> Result<Engine, WasmError> {
        let mut config = Config::new();
        config.consume_fuel(fuel);
        config.cranelift_opt_level(OptLevel::Speed);
        if let Some(dir) = cache_dir {
            config
                .enable_incremental_compilation(Arc::new(FunctionCache::new(dir)))
                .map_err(wt)?;
        }
        Engine::new(&config).map_err(wt)
    }

    /// A sandbox **without fuel metering, so without any CPU limit**: only for measuring what
    /// metering costs (`--example wasm_bench`). Never run untrusted code with it.
    pub fn unmetered_for_measurement(wasm: &[u8], cache_dir: &Path) -> Result<Self, WasmError> {
        let engine = Self::engine_with(false, Some(cache_dir))?;
        let (module, origin) = cache::load(&engine, wasm, cache_dir)?;
        let mut sandbox = Self::with_module(engine, module, origin, wasm, cache_dir)?;
        sandbox.fuel = false;
        Ok(sandbox)
    }

    /// Loads the guest at `guest`, using (and filling) the artifact cache in `cache_dir`.
    pub fn load(guest: &Path, cache_dir: &Path) -> Result<Self, WasmError> {
        let wasm = std::fs::read(guest).map_err(|source| WasmError::Io {
            what: "reading the wasm guest",
            path: guest.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&wasm, cache_dir)
    }

    /// Like [`WasmSandbox::load`], from the module's bytes.
    pub fn from_bytes(wasm: &[u8], cache_dir: &Path) -> Result<Self, WasmError> {
        let engine = Self::engine_with(true, Some(cache_dir))?;
        let (module, origin) = cache::load(&engine, wasm, cache_dir)?;
        Self::with_module(engine, module, origin, wasm, cache_dir)
    }

    fn with_module(
        engine: Engine,
        module: Module,
        origin: Origin,
        wasm: &[u8],
        cache_dir: &Path,
    ) -> Result<Self, WasmError> {
        let linker = host::linker(&engine).map_err(wt)?;
        let pre = linker.instantiate_pre(&module).map_err(wt)?;
        Ok(Self {
            engine,
            fuel: true,
            pre,
            origin,
            wasm: wasm.to_vec(),
            wasm_digest: hex::encode(sha2::Sha256::digest(wasm)),
            cache_dir: cache_dir.to_path_buf(),
            linker,
            snapshots: Snapshots::default(),
        })
    }

    /// The guest's imports (`module.name`): `openfn.*` and the WASI p1 functions the host
    /// answers itself; nothing else links.
    pub fn imports(&self) -> Vec<String> {
        self.pre
            .module()
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect()
    }

    /// Whether the module came from the artifact cache (no Cranelift compilation).
    pub fn from_cache(&self) -> bool {
        self.origin == Origin::Cache
    }

    /// Runs the compiled job module `source` (an ES module whose default export is an array
    /// of operations; no imports yet) against `state`, in a fresh instance.
    pub fn run(
        &self,
        source: &str,
        state: &Value,
        limits: &Limits,
    ) -> Result<RunOutcome, WasmError> {
        let started = Instant::now();
        let state_json = serde_json::to_vec(state)
            .map_err(|e| WasmError::Wasmtime(format!("the state is not JSON: {e}")))?;
        let inputs = [source.as_bytes().to_vec(), state_json, Vec::new()];
        let (host, killed, fuel_used) = self.execute(inputs, None, limits, started)?;
        let mut logs = Vec::new();
        let mut end: Option<(Option<Value>, Option<SerializedError>)> = None;
        for message in host.messages {
            match message {
                GuestMessage::Log(line) => logs.push(line),
                GuestMessage::Result { state } if end.is_none() => end = Some((Some(state), None)),
                GuestMessage::Error(e) if end.is_none() => end = Some((None, Some(classify(&e)))),
                _ => {}
            }
        }
        let (state, error) = match (killed, end) {
            (Some(error), _) => (None, Some(error)),
            (None, Some(end)) => end,
            (None, None) => (
                None,
                Some(SerializedError::new(
                    &ErrorClass::ExitError,
                    "The wasm guest ended without a result",
                )),
            ),
        };
        Ok(RunOutcome {
            state,
            error,
            logs,
            fuel_used,
            memory_peak: host.limiter.peak,
            duration: started.elapsed(),
            stdio: String::from_utf8_lossy(&host.stdio).into_owned(),
        })
    }

    /// Runs the guest once in a fresh store with `inputs`: the store's data afterwards, the
    /// error that ended it from outside JS (out of fuel or memory, too much output, a trap),
    /// and the fuel used.
    pub(crate) fn execute(
        &self,
        inputs: [Vec<u8>; 3],
        access: Option<GuestAccess>,
        limits: &Limits,
        started: Instant,
    ) -> Result<(Host, Option<SerializedError>, u64), WasmError> {
        self.execute_with(&self.pre, "_start", inputs, access, limits, started)
    }

    /// A fresh store for one instance of the guest (its limits set, its fuel filled).
    pub(crate) fn store(
        &self,
        inputs: [Vec<u8>; 3],
        access: Option<GuestAccess>,
        limits: &Limits,
        started: Instant,
    ) -> Result<Store<Host>, WasmError> {
        let host = Host {
            inputs,
            messages: Vec::new(),
            fuel_at: Vec::new(),
            fuel_start: limits.fuel,
            access,
            reply: Vec::new(),
            limiter: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
                refused: false,
                peak: 0,
            },
            output_bytes: 0,
            output_cap: limits.output_bytes,
            stdio: Vec::new(),
            started,
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limiter);
        if self.fuel {
            store.set_fuel(limits.fuel).map_err(wt)?;
        }
        Ok(store)
    }

    /// [`WasmSandbox::execute`] of the module behind `pre` (the guest or a snapshot of it),
    /// calling its export `entry`.
    pub(crate) fn execute_with(
        &self,
        pre: &InstancePre<Host>,
        entry: &str,
        inputs: [Vec<u8>; 3],
        access: Option<GuestAccess>,
        limits: &Limits,
        started: Instant,
    ) -> Result<(Host, Option<SerializedError>, u64), WasmError> {
        let mut store = self.store(inputs, access, limits, started)?;
        let result = match pre.instantiate(&mut store) {
            Ok(instance) => instance
                .get_typed_func::<(), ()>(&mut store, entry)
                .and_then(|start| start.call(&mut store, ())),
            Err(e) if store.data().limiter.refused => Err(e),
            Err(e) => return Err(wt(e)),
        };
        let fuel_used = match self.fuel {
            true => limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            false => 0,
        };
        let host = store.into_data();
        let killed = match &result {
            Ok(()) => None,
            Err(e) if e.downcast_ref::<Exit>().is_some_and(|x| x.0 == 0) => None,
            Err(_) if host.limiter.refused => Some(oom()),
            Err(e) if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) => {
                Some(timeout(limits.fuel))
            }
            Err(e) if e.downcast_ref::<OutputTooLarge>().is_some() => {
                Some(too_large(limits.output_bytes))
            }
            Err(e) => Some(SerializedError::new(
                &ErrorClass::ExitError,
                format!("The wasm guest stopped: {e}"),
            )),
        };
        Ok((host, killed, fuel_used))
    }
}
