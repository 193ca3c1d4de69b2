//! Cranelift's per-function compilation cache on disk (`Config::enable_incremental_compilation`).
//!
//! A snapshot module ([`crate::snapshot`]) has the guest's code with other data segments, so
//! compiling it would repeat the guest's compilation function by function; with this cache
//! its functions (and the instrumented guest's) come from the guest's first compilation.
//! Entries are `functions/<2 hex>/<62 hex>` under the artifact cache directory, named by the
//! SHA-256 of Cranelift's key (which covers the function's IR and the compiler's settings).
//! Trust as for the artifacts: whoever can write the directory can run code in the host.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// The cache under one directory.
#[derive(Debug)]
pub(crate) struct FunctionCache {
    dir: PathBuf,
}

impl FunctionCache {
    /// The cache in `<cache_dir>/functions`.
    pub(crate) fn new(cache_dir: &std::path::Path) -> Self {
        Self {
            dir: cache_dir.join("functions"),
        }
    }

    fn path(&self, key: &[u8]) -> PathBuf {
        let name = hex::encode(Sha256::digest(key));
        self.dir.join(&name[..2]).join(&name[2..])
    }
}

impl wasmtime::CacheStore for FunctionCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        std::fs::read(self.path(key)).ok().map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        let path = self.path(key);
        let Some(dir) = path.parent() else {
            return false;
        };
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, &value))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .is_ok()
    }
}
