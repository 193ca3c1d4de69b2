//! The snapshots a [`crate::WasmSandbox`] keeps in memory (made by [`crate::snapshot`]): the
//! most recently used per adaptor set, and the locks of the sets being built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::InstancePre;

use crate::host::Host;

/// How many snapshots a sandbox keeps in memory (least recently used dropped first).
const KEPT: usize = 16;

#[derive(Clone)]
pub(crate) enum Entry {
    Ready(Arc<InstancePre<Host>>),
    Failed(String),
}

/// A sandbox's snapshots by key, most recently used last, and the locks of the keys being
/// built (concurrent first runs of one set build it once; other sets do not wait).
#[derive(Default)]
pub(crate) struct Snapshots {
    list: Mutex<Vec<(String, Entry)>>,
    building: Mutex<BTreeMap<String, Arc<Mutex<()>>>>,
}

impl Snapshots {
    /// The lock held while `key` is being built.
    pub(crate) fn build_lock(&self, key: &str) -> Arc<Mutex<()>> {
        let mut building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
        building.entry(key.to_owned()).or_default().clone()
    }

    pub(crate) fn built(&self, key: &str) {
        let mut building = self.building.lock().unwrap_or_else(PoisonError::into_inner);
        building.remove(key);
    }

    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        let at = list.iter().position(|(k, _)| k == key)?;
        let hit = list.remove(at);
        let entry = hit.1.clone();
        list.push(hit);
        Some(entry)
    }

    pub(crate) fn put(&self, key: String, entry: Entry) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|(k, _)| *k != key);
        if list.len() >= KEPT {
            list.remove(0);
        }
        list.push((key, entry));
    }
}
