//! The precompiled-module cache: `Module::serialize`'s artifact on disk, keyed by wasmtime's
//! version, the engine's compatibility hash (its settings and target) and the module's SHA-256.
//!
//! Trust: a cached artifact is native code; whoever can write the cache directory can run code
//! in the host, as with the binary's own directory. Keep it owned by the worker's user.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::error::WasmError;

/// How many times this process compiled a module with Cranelift (a cache miss each).
static COMPILATIONS: AtomicUsize = AtomicUsize::new(0);

/// The number of Cranelift compilations so far in this process.
pub fn compilations() -> usize {
    COMPILATIONS.load(Ordering::Relaxed)
}

/// The default cache directory: `$OPENFN_WASM_CACHE`, else `<user cache dir>/openfn/wasm`,
/// else `<temp dir>/openfn-wasm`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENFN_WASM_CACHE") {
        return dir.into();
    }
    dirs::cache_dir()
        .map(|d| d.join("openfn").join("wasm"))
        .unwrap_or_else(|| std::env::temp_dir().join("openfn-wasm"))
}

/// The artifact's file name for `wasm` under `engine`.
pub fn artifact_name(engine: &Engine, wasm: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(wasm));
    format!(
        "guest-wasmtime{}-{:016x}-{}.cwasm",
        wasmtime_version(),
        engine_hash(engine),
        &digest[..32]
    )
}

/// The wasmtime version this crate is built with (pinned in the workspace).
pub fn wasmtime_version() -> &'static str {
    "48.0.8"
}

/// Where a module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Deserialized from the cached artifact.
    Cache,
    /// Compiled with Cranelift (and the artifact written, when the cache dir is writable).
    Compiled,
}

/// The module for `wasm`: from `dir`'s artifact when there is a valid one, else compiled and
/// cached. A stale or unreadable artifact is replaced; a cache dir that cannot be written only
/// costs the next start a compilation.
pub fn load(engine: &Engine, wasm: &[u8], dir: &Path) -> Result<(Module, Origin), WasmError> {
    let path = dir.join(artifact_name(engine, wasm));
    if let Some(module) = read_artifact(engine, &path) {
        return Ok((module, Origin::Cache));
    }
    COMPILATIONS.fetch_add(1, Ordering::Relaxed);
    let module = Module::new(engine, wasm).map_err(|e| WasmError::Wasmtime(format!("{e:#}")))?;
    write_artifact(&module, dir, &path);
    Ok((module, Origin::Compiled))
}

/// The module in the artifact at `path`, when there is a valid one (written by
/// [`write_artifact`] under the same wasmtime version and engine settings).
pub(crate) fn read_artifact(engine: &Engine, path: &Path) -> Option<Module> {
    let bytes = std::fs::read(path).ok()?;
    // SAFETY: the artifact was written by `Module::serialize` of this wasmtime version under
    // the same engine settings (both are in its name, and wasmtime checks them again while
    // deserializing); the cache directory is trusted like the executable's own (module docs).
    // `deserialize` copies the bytes, so later changes to the file do not affect this module.
    #[allow(unsafe_code, reason = "loading wasmtime's own precompiled artifact")]
    let module = unsafe { Module::deserialize(engine, &bytes) };
    if module.is_ok() {
        // used now: [`prune`] keeps the most recently used artifacts
        touch(path);
    }
    module.ok()
}

/// How many snapshot artifacts (`snapshot-…cwasm`, 12–19 MB each) the cache directory keeps:
/// writing a new one removes the least recently used beyond this.
pub const KEPT_SNAPSHOT_FILES: usize = 64;

/// Sets `path`'s modification time to now (best effort: a read-only cache only loses the
/// ordering [`prune`] goes by).
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Removes all but the `keep` most recently used (modified) files in `dir` whose names start
/// with `prefix` and end with `.cwasm`; returns how many it removed. Best effort: files it
/// cannot read or remove stay.
pub(crate) fn prune(dir: &Path, prefix: &str, keep: usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".cwasm")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    files
        .iter()
        .skip(keep)
        .filter(|(_, path)| std::fs::remove_file(path).is_ok())
        .count()
}

/// Writes `module`'s artifact to `path` in `dir` (best effort: an unwritable cache only costs
/// a later start a compilation).
pub(crate) fn write_artifact(module: &Module, dir: &Path, path: &Path) {
    if let Ok(bytes) = module.serialize() {
        let _ = write_atomically(dir, path, &bytes);
    }
}

/// The engine's compatibility hash, as it appears in artifact names.
pub(crate) fn engine_hash(engine: &Engine) -> u64 {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("artifact"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_most_recently_used_files_of_its_kind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = std::time::SystemTime::now();
        for (i, name) in ["snapshot-a.cwasm", "snapshot-b.cwasm", "snapshot-c.cwasm"]
            .iter()
            .enumerate()
        {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").expect("write");
            let age = std::time::Duration::from_secs(100 * (3 - i as u64));
            let file = std::fs::File::options()
                .append(true)
                .open(&path)
                .expect("open");
            file.set_modified(now - age).expect("set mtime");
        }
        std::fs::write(dir.path().join("guest-x.cwasm"), b"x").expect("write");
        // using the oldest makes it the newest
        touch(&dir.path().join("snapshot-a.cwasm"));
        assert_eq!(prune(dir.path(), "snapshot-", 2), 1);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["guest-x.cwasm", "snapshot-a.cwasm", "snapshot-c.cwasm"]
        );
        assert_eq!(prune(dir.path(), "snapshot-", 2), 0);
    }
}
