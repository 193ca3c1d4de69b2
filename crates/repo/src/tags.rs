//! What a dist-tag (`latest`, `next`) resolved to, remembered on disk for a while: a CLI run of
//! `openfn job.js -a common` asks the registry for `latest` once per [`TAG_TTL`] instead of on
//! every run (the npm registry itself serves packuments with `max-age=300`). Entries live in
//! `<repo>/.cache/dist-tags.json`; a missing or unreadable file is an empty cache, and a failed
//! write loses only the shortcut.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long a dist-tag answer is trusted: the registry's own cache lifetime for packuments.
pub const TAG_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    version: String,
    /// Seconds since the Unix epoch when the registry said so.
    at: u64,
}

/// The on-disk dist-tag cache of one repo.
#[derive(Debug, Clone)]
pub(crate) struct TagCache {
    file: PathBuf,
    ttl: Duration,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn key(name: &str, tag: &str) -> String {
    format!("{name}@{tag}")
}

impl TagCache {
    pub(crate) fn new(repo_dir: &Path, ttl: Duration) -> TagCache {
        TagCache {
            file: repo_dir.join(".cache").join("dist-tags.json"),
            ttl,
        }
    }

    fn read(&self) -> BTreeMap<String, Entry> {
        std::fs::read(&self.file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// The version `name@tag` resolved to less than the TTL ago.
    pub(crate) fn fresh(&self, name: &str, tag: &str) -> Option<String> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.read().remove(&key(name, tag))?;
        let age = now().saturating_sub(entry.at);
        (age < self.ttl.as_secs()).then_some(entry.version)
    }

    /// Remembers that `name@tag` is `version` now (written to a temporary file, then renamed
    /// over the cache, so readers never see half a file).
    pub(crate) fn record(&self, name: &str, tag: &str, version: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.read();
        entries.insert(
            key(name, tag),
            Entry {
                version: version.to_owned(),
                at: now(),
            },
        );
        let write = || -> std::io::Result<()> {
            let dir = self.file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!("dist-tags.{}.tmp", std::process::id()));
            let text = serde_json::to_vec_pretty(&entries).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &self.file)
        };
        if let Err(e) = write() {
            tracing::debug!(file = %self.file.display(), "dist-tag cache not written: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_fresh_for_the_ttl_and_per_name_and_tag() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = TagCache::new(dir.path(), TAG_TTL);
        assert_eq!(cache.fresh("a", "latest"), None);
        cache.record("a", "latest", "1.2.3");
        assert_eq!(cache.fresh("a", "latest").as_deref(), Some("1.2.3"));
        assert_eq!(cache.fresh("a", "next"), None);
        assert_eq!(cache.fresh("b", "latest"), None);
        // another process (a new cache on the same dir) sees it
        let other = TagCache::new(dir.path(), TAG_TTL);
        assert_eq!(other.fresh("a", "latest").as_deref(), Some("1.2.3"));
    }

    #[test]
    fn an_old_answer_is_not_fresh_and_a_zero_ttl_keeps_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = TagCache::new(dir.path(), TAG_TTL);
        let old = BTreeMap::from([(
            key("a", "latest"),
            Entry {
                version: "1.0.0".into(),
                at: now() - 301,
            },
        )]);
        std::fs::create_dir_all(dir.path().join(".cache")).expect("mkdir");
        std::fs::write(&cache.file, serde_json::to_vec(&old).expect("json")).expect("write");
        assert_eq!(cache.fresh("a", "latest"), None);

        let off = TagCache::new(dir.path(), Duration::ZERO);
        off.record("b", "latest", "2.0.0");
        assert_eq!(cache.fresh("b", "latest"), None);
    }

    #[test]
    fn a_corrupt_file_is_an_empty_cache() {
        let dir = tempfile::tempdir().expect("tmp");
        let cache = TagCache::new(dir.path(), TAG_TTL);
        std::fs::create_dir_all(dir.path().join(".cache")).expect("mkdir");
        std::fs::write(&cache.file, b"{not json").expect("write");
        assert_eq!(cache.fresh("a", "latest"), None);
        cache.record("a", "latest", "1.0.0");
        assert_eq!(cache.fresh("a", "latest").as_deref(), Some("1.0.0"));
    }
}
