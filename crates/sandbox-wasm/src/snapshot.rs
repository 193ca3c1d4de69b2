//! Pre-initialised snapshots: the guest with a plan's adaptor set already evaluated.
//!
//! A plan run pays for a QuickJS runtime, its realms and, above all, parsing and evaluating
//! its adaptors (the real `@openfn/language-common` is hundreds of kilobytes of JS). For each
//! adaptor set the host does that once, wizer-style: it instruments the guest
//! (`wasmtime_wizer::Wizer::instrument`), instantiates it with the tier's own host and the
//! default limits, calls the guest's `wizer-initialize` export (which builds an
//! `openfn_runtime::Prepared` with the adaptors loaded, as the native tier's warm templates
//! do) and snapshots the instance: a new module whose data segments hold the initialised
//! linear memory. That module is compiled once, kept in the sandbox's memory and written to
//! the artifact cache, and every run of the set instantiates it — wasmtime maps the data
//! copy-on-write — and goes straight to the plan. Each run starts from the same pristine
//! memory, so nothing a run does (globals, adaptor state) reaches the next; the guest reseeds
//! `Math.random` and resets its virtual clock before the run.
//!
//! A snapshot that cannot be made (an adaptor that throws while loading, out of fuel or
//! memory while preparing, a module wizer refuses) is never a failed run: the run uses the
//! plain guest and its outcome says why ([`SnapshotUse::Fallback`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use openfn_node_host::HostPolicy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasmtime::{Instance, InstancePre, Module, Store};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::cache;
use crate::files::GuestAccess;
use crate::host::Host;
use crate::message::GuestMessage;
use crate::sandbox::{Limits, WasmSandbox, wt};
use crate::snapshot_store::Entry;

/// The guest's initialisation export.
const INIT: &str = "wizer-initialize";

/// How a plan run used a pre-initialised snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotUse {
    /// Snapshots are off for this run (`PlanOptions::snapshot`).
    Off,
    /// This run made the snapshot (instrument, initialise, snapshot, compile) in `took`, then
    /// started from it.
    Built {
        /// The time the snapshot took to make.
        took: Duration,
    },
    /// The run started from a snapshot kept in the sandbox's memory.
    Memory,
    /// The run started from a snapshot loaded from the artifact cache.
    Disk,
    /// No snapshot could be made for the adaptor set; the run used the plain guest.
    Fallback {
        /// Why.
        reason: String,
    },
}

impl SnapshotUse {
    /// Whether the run started from a snapshot.
    pub fn used(&self) -> bool {
        matches!(self, Self::Built { .. } | Self::Memory | Self::Disk)
    }
}

/// What a plan's snapshot holds: the adaptors to evaluate (name → `{path?, version?}`) and
/// the run options the guest prepares them under.
struct SnapshotSpec {
    /// The guest's options for preparing: the repo, the linked modules and `prepare` (the
    /// adaptor set).
    init_options: Value,
    /// The hex SHA-256 naming the snapshot (see [`SnapshotSpec::new`]).
    key: String,
}

/// `name@version` → (`name`, `version`); a scoped name's leading `@` is not a separator.
fn split_specifier(spec: &str) -> (&str, Option<&str>) {
    match spec.rfind('@') {
        Some(at) if at > 0 => (&spec[..at], Some(&spec[at + 1..])),
        _ => (spec, None),
    }
}

/// The adaptors a plan's steps name (`adaptors` / `adaptor`, and `linker` entries), plus the
/// linked ones: name → `{path?, version?}` (the first mention of a name wins).
fn adaptor_set(plan: &Value, linked: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut set: BTreeMap<String, Value> = linked.clone();
    let steps = plan
        .pointer("/workflow/steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for step in steps {
        if let Some(linker) = step.get("linker").and_then(Value::as_object) {
            for (name, info) in linker {
                set.entry(name.clone()).or_insert_with(|| info.clone());
            }
        }
        let many = step.get("adaptors").and_then(Value::as_array);
        let one = step.get("adaptor").into_iter();
        for spec in many
            .into_iter()
            .flatten()
            .chain(one)
            .filter_map(Value::as_str)
        {
            let (name, version) = split_specifier(spec);
            let info = match version {
                Some(v) if v != "latest" => json!({ "version": v }),
                _ => json!({}),
            };
            set.entry(name.to_owned()).or_insert(info);
        }
    }
    set
}

/// The SHA-256 (hex) of the file at `path`, or `-` when it cannot be read.
fn file_digest(path: &Path) -> String {
    std::fs::read(path).map_or_else(|_| "-".to_owned(), |b| hex::encode(Sha256::digest(b)))
}

/// Where adaptor `name` (with `info`) is installed: its linked path, else the repo's
/// `node_modules/<name>_<version>` or `node_modules/<name>`.
fn adaptor_dir(repo: Option<&Path>, name: &str, info: &Value) -> Option<PathBuf> {
    if let Some(path) = info.get("path").and_then(Value::as_str) {
        return Some(PathBuf::from(path));
    }
    let modules = repo?.join("node_modules");
    Some(match info.get("version").and_then(Value::as_str) {
        Some(v) => modules.join(format!("{name}_{v}")),
        None => modules.join(name),
    })
}

impl SnapshotSpec {
    /// The snapshot for running a plan with `guest_options` (the guest's run options; their
    /// `repo` and `modules` are what preparing depends on) and the adaptor `set`. The key
    /// covers the guest, the repo, the set (names, versions, resolved directories) and the
    /// SHA-256 of the repo's and of each adaptor's `package.json`: installing another version
    /// or changing an adaptor's package makes a new snapshot.
    fn new(guest_digest: &str, guest_options: &Value, set: BTreeMap<String, Value>) -> Self {
        let repo = guest_options
            .get("repo")
            .and_then(Value::as_str)
            .map(PathBuf::from);
        let packages: BTreeMap<&String, (Option<PathBuf>, String)> = set
            .iter()
            .map(|(name, info)| {
                let dir = adaptor_dir(repo.as_deref(), name, info);
                let digest = dir
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |d| file_digest(&d.join("package.json")));
                (name, (dir, digest))
            })
            .collect();
        let repo_package = repo.as_ref().map(|r| file_digest(&r.join("package.json")));
        // only what preparing depends on (the rest of the options are each run's own)
        let init_options = json!({
            "repo": repo,
            "modules": guest_options.get("modules"),
            "prepare": set,
        });
        let described = json!({
            "guest": guest_digest,
            "repo": repo,
            "repoPackage": repo_package,
            "modules": guest_options.get("modules"),
            "prepare": set,
            "packages": packages,
        });
        let key = hex::encode(Sha256::digest(described.to_string().as_bytes()));
        Self { init_options, key }
    }
}

/// The instance's exported globals and memories, read for wizer's snapshot; `failed` notes a
/// missing export (a module wizer did not instrument as expected).
struct Live<'a> {
    store: &'a mut Store<Host>,
    instance: Instance,
    failed: bool,
}

impl InstanceState for Live<'_> {
    fn global_get(
        &mut self,
        name: &str,
        _type_hint: ValType,
    ) -> impl Future<Output = SnapshotVal> + Send {
        let value = self
            .instance
            .get_global(&mut *self.store, name)
            .map(|g| g.get(&mut *self.store));
        let value = match value {
            Some(wasmtime::Val::I32(x)) => SnapshotVal::I32(x),
            Some(wasmtime::Val::I64(x)) => SnapshotVal::I64(x),
            Some(wasmtime::Val::F32(x)) => SnapshotVal::F32(x),
            Some(wasmtime::Val::F64(x)) => SnapshotVal::F64(x),
            Some(wasmtime::Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            _ => {
                self.failed = true;
                SnapshotVal::I32(0)
            }
        };
        std::future::ready(value)
    }

    fn memory_contents(
        &mut self,
        name: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => {
                self.failed = true;
                contents(&[]);
            }
        }
        std::future::ready(())
    }
}

/// Polls `f` once: wizer's snapshot future is ready at once with [`Live`] (nothing in it
/// waits); `None` if it were not.
fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// The size in bytes of `module`'s (first) memory when instantiated.
fn initial_memory(module: &Module) -> usize {
    module
        .exports()
        .find_map(|e| {
            e.ty()
                .memory()
                .map(|m| m.minimum().saturating_mul(m.page_size()))
        })
        .map_or(0, |bytes| usize::try_from(bytes).unwrap_or(usize::MAX))
}

/// The linked adaptors of the guest's run options (name → `{path}`).
fn linked_modules(guest_options: &Value) -> BTreeMap<String, Value> {
    guest_options
        .get("modules")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

impl WasmSandbox {
    /// The snapshot for running `plan` with `guest_options` (the guest's run options), prepared
    /// with `run_access`'s module files (no HTTP, no credentials while preparing).
    pub(crate) fn plan_snapshot(
        &self,
        plan: &Value,
        guest_options: &Value,
        run_access: &GuestAccess,
        limits: &Limits,
    ) -> (Option<Arc<InstancePre<Host>>>, SnapshotUse) {
        let set = adaptor_set(plan, &linked_modules(guest_options));
        let spec = SnapshotSpec::new(&self.wasm_digest, guest_options, set);
        let access = GuestAccess {
            roots: run_access.roots.clone(),
            modules: run_access.modules.clone(),
            http: run_access.http.clone(),
            policy: HostPolicy::deny_all(),
            tokio: None,
            resolver: None,
            on_message: None,
        };
        match self.snapshot(&spec, access) {
            // a run whose memory limit is below the snapshot's memory would be refused its
            // instance: it runs on the plain guest, as it would have without snapshots
            (Some(pre), _) if initial_memory(pre.module()) > limits.memory_bytes => (
                None,
                SnapshotUse::Fallback {
                    reason: format!(
                        "the run's memory limit ({} bytes) is below the snapshot's memory ({} bytes)",
                        limits.memory_bytes,
                        initial_memory(pre.module())
                    ),
                },
            ),
            found => found,
        }
    }

    /// The artifact-cache file of the snapshot `key` under this engine.
    fn snapshot_path(&self, key: &str) -> PathBuf {
        self.cache_dir.join(format!(
            "snapshot-wasmtime{}-{:016x}-{}.cwasm",
            cache::wasmtime_version(),
            cache::engine_hash(&self.engine),
            &key[..32]
        ))
    }

    /// The snapshot for `spec` (from memory, the artifact cache, or made now with `access`
    /// for the initialisation), and how it was had; `None` with the reason in
    /// [`SnapshotUse::Fallback`] when none can be made.
    fn snapshot(
        &self,
        spec: &SnapshotSpec,
        access: GuestAccess,
    ) -> (Option<Arc<InstancePre<Host>>>, SnapshotUse) {
        if let Some(found) = self.remembered(&spec.key) {
            return found;
        }
        let lock = self.snapshots.build_lock(&spec.key);
        let _building = lock.lock().unwrap_or_else(PoisonError::into_inner);
        // another run may have made it while this one waited
        let made = match self.remembered(&spec.key) {
            Some(found) => found,
            None => self.load_or_build(spec, access),
        };
        self.snapshots.built(&spec.key);
        made
    }

    /// The snapshot `key` (or the reason it failed) when the sandbox has it in memory.
    fn remembered(&self, key: &str) -> Option<(Option<Arc<InstancePre<Host>>>, SnapshotUse)> {
        match self.snapshots.get(key)? {
            Entry::Ready(pre) => Some((Some(pre), SnapshotUse::Memory)),
            Entry::Failed(reason) => Some((None, SnapshotUse::Fallback { reason })),
        }
    }

    fn load_or_build(
        &self,
        spec: &SnapshotSpec,
        access: GuestAccess,
    ) -> (Option<Arc<InstancePre<Host>>>, SnapshotUse) {
        let path = self.snapshot_path(&spec.key);
        if let Some(module) = cache::read_artifact(&self.engine, &path)
            && let Ok(pre) = self.linker.instantiate_pre(&module)
        {
            let pre = Arc::new(pre);
            self.snapshots
                .put(spec.key.clone(), Entry::Ready(pre.clone()));
            return (Some(pre), SnapshotUse::Disk);
        }
        let started = Instant::now();
        match self.build_snapshot(spec, access) {
            Ok(module) => {
                cache::write_artifact(&module, &self.cache_dir, &path);
                cache::prune(&self.cache_dir, "snapshot-", cache::KEPT_SNAPSHOT_FILES);
                match self.linker.instantiate_pre(&module) {
                    Ok(pre) => {
                        let pre = Arc::new(pre);
                        self.snapshots
                            .put(spec.key.clone(), Entry::Ready(pre.clone()));
                        let took = started.elapsed();
                        (Some(pre), SnapshotUse::Built { took })
                    }
                    Err(e) => self.failed(spec, format!("{e:#}")),
                }
            }
            Err(reason) => self.failed(spec, reason),
        }
    }

    fn failed(
        &self,
        spec: &SnapshotSpec,
        reason: String,
    ) -> (Option<Arc<InstancePre<Host>>>, SnapshotUse) {
        self.snapshots
            .put(spec.key.clone(), Entry::Failed(reason.clone()));
        (None, SnapshotUse::Fallback { reason })
    }

    /// Instruments the guest, runs its initialisation with `spec`'s options, snapshots the
    /// instance and compiles the result. The initialisation has the default limits, whatever
    /// the run's: a snapshot (or its failure, remembered) depends on the adaptor set only.
    fn build_snapshot(&self, spec: &SnapshotSpec, access: GuestAccess) -> Result<Module, String> {
        let wizer = Wizer::new();
        let (cx, instrumented) = wizer
            .instrument(&self.wasm)
            .map_err(|e| format!("instrumenting the guest: {e:#}"))?;
        // The instrumented guest is the same for every adaptor set: compiled once, cached.
        let (module, _) =
            cache::load(&self.engine, &instrumented, &self.cache_dir).map_err(|e| e.to_string())?;
        let options = serde_json::to_vec(&spec.init_options).map_err(|e| e.to_string())?;
        let inputs = [Vec::new(), Vec::new(), options];
        let mut store = self
            .store(inputs, Some(access), &Limits::default(), Instant::now())
            .map_err(|e| e.to_string())?;
        let instance = self
            .linker
            .instantiate(&mut store, &module)
            .map_err(|e| format!("instantiating the guest: {e:#}"))?;
        instance
            .get_typed_func::<(), ()>(&mut store, INIT)
            .and_then(|init| init.call(&mut store, ()))
            .map_err(|e| match store.data().limiter.refused {
                true => "preparing the adaptors ran out of memory".to_owned(),
                false => format!("preparing the adaptors stopped: {e:#}"),
            })?;
        for message in &store.data().messages {
            if let GuestMessage::Abort { error } = message {
                let reason = error.get("message").and_then(Value::as_str);
                return Err(reason.unwrap_or("preparing the adaptors failed").to_owned());
            }
        }
        let mut live = Live {
            store: &mut store,
            instance,
            failed: false,
        };
        let wasm = now_or_never(wizer.snapshot(&cx, &mut live))
            .ok_or("the snapshot did not complete")?
            .map_err(|e| format!("snapshotting the instance: {e:#}"))?;
        if live.failed {
            return Err("the instrumented guest lacks an export the snapshot reads".to_owned());
        }
        Module::new(&self.engine, &wasm)
            .map_err(wt)
            .map_err(|e| format!("compiling the snapshot: {e}"))
    }
}
