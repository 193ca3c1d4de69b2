//! The repository itself: a directory holding a private npm package (`package.json` with
//! `dependencies`) and one self-contained tree per installed adaptor version at
//! `node_modules/<name>_<version>`. Installs build the tree in `.staging/`, then rename it into
//! place and record it in `package.json`, under a per-adaptor lock file (across processes) and a
//! single-flight mutex (in-process); reads (`resolve`, `list`) touch only the disk.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use fs4::fs_std::FileExt;
use futures::StreamExt;
use futures::future::join_all;
use nodejs_semver::{Range, Version};
use serde_json::{Map, Value};

use crate::config::RegistryConfig;
use crate::error::{InstallError, RepoError};
use crate::registry::{Manifest, Registry};
use crate::spec::{Requirement, Specifier, alias, split_alias, validate_name};
use crate::tags::{TAG_TTL, TagCache};
use crate::tarball;
use crate::tree::{Tree, pick};

/// The CLI's default repo, relative to the home directory (`~/openfn/repo/cli`).
pub const CLI_REPO_SUBDIR: &str = "openfn/repo/cli";
/// The worker's default repo, relative to the home directory (`~/.openfn/worker/repo`).
pub const WORKER_REPO_SUBDIR: &str = ".openfn/worker/repo";

/// `~/openfn/repo/cli`, the CLI's default repo (`None` without a home directory).
pub fn default_cli_repo_dir() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(CLI_REPO_SUBDIR))
}

/// `~/.openfn/worker/repo`, the worker's default repo (`None` without a home directory).
pub fn default_worker_repo_dir() -> Option<PathBuf> {
    dirs::home_dir().map(|home| home.join(WORKER_REPO_SUBDIR))
}

/// An adaptor version present in the repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Package name, e.g. `@openfn/language-http`.
    pub name: String,
    /// Exact version, e.g. `7.2.10`.
    pub version: String,
    /// The adaptor's root directory, `<repo>/node_modules/<name>_<version>`: the linker reads
    /// its `package.json` and imports its entry point from here.
    pub path: PathBuf,
}

impl Installed {
    /// `<name>_<version>`.
    pub fn alias(&self) -> String {
        alias(&self.name, &self.version)
    }

    /// `<name>@<version>`.
    pub fn specifier(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// An adaptor repository directory. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Repo {
    dir: PathBuf,
    registry: Registry,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    progress: Option<crate::ProgressFn>,
    tags: TagCache,
}

impl Repo {
    /// Opens the repo at `dir`, fetching from the registries in `config`. Touches neither the
    /// disk nor the network (the directory and its `package.json` are created by the first
    /// install; the HTTP client is built by the first registry request), so it cannot fail
    /// today; the `Result` leaves room for validating the configuration.
    pub fn open(dir: impl Into<PathBuf>, config: RegistryConfig) -> Result<Repo, RepoError> {
        let dir = dir.into();
        Ok(Repo {
            tags: TagCache::new(&dir, TAG_TTL),
            dir,
            registry: Registry::new(config),
            flights: Mutex::new(HashMap::new()),
            progress: None,
        })
    }

    /// How long what a dist-tag (`latest`, or no version) resolved to is trusted before the
    /// registry is asked again ([`TAG_TTL`] by default; zero asks every time).
    #[must_use]
    pub fn with_tag_ttl(mut self, ttl: std::time::Duration) -> Repo {
        self.tags = TagCache::new(&self.dir, ttl);
        self
    }

    /// Reports the progress of every install to `observer` (resolved trees, fetched packages).
    #[must_use]
    pub fn with_progress(mut self, observer: crate::ProgressFn) -> Repo {
        self.progress = Some(observer);
        self
    }

    fn report(&self, progress: crate::InstallProgress) {
        if let Some(observer) = &self.progress {
            observer(&progress);
        }
    }

    /// The repo directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        self.registry.config()
    }

    /// How many HTTP requests (retries included) this repo has sent to registries.
    pub fn registry_requests(&self) -> u64 {
        self.registry.request_count()
    }

    /// Finds an installed adaptor from disk alone, never asking a registry: an exact version
    /// must be recorded in `package.json`; a range picks the highest installed version in it;
    /// no version picks the highest installed (semver order, where the kit compares strings).
    /// Dist-tags (`latest`, `next`) need the registry, so they give `None`.
    pub fn resolve(&self, spec: &Specifier) -> Option<Installed> {
        validate_name(&spec.name).ok()?;
        let deps = read_dependencies(&self.dir).ok()?;
        let installed = |alias: &str, version: &str| {
            let path = self.dir.join("node_modules").join(alias);
            path.join("package.json").is_file().then(|| Installed {
                name: spec.name.clone(),
                version: version.to_owned(),
                path,
            })
        };
        let range = match spec.requirement() {
            Requirement::Exact(_) => {
                let version = spec.version.as_deref()?;
                let alias = alias(&spec.name, version);
                return deps
                    .contains_key(&alias)
                    .then(|| installed(&alias, version))
                    .flatten();
            }
            Requirement::Tag(_) => return None,
            Requirement::Any => None,
            Requirement::Range(range) => Some(range),
        };
        let mut best: Option<(Option<Version>, &str, &str)> = None;
        for key in deps.keys() {
            let Some((name, version)) = split_alias(key) else {
                continue;
            };
            if name != spec.name {
                continue;
            }
            let parsed = Version::parse(version).ok();
            if let Some(range) = &range
                && !parsed.as_ref().is_some_and(|v| range.satisfies(v))
            {
                continue;
            }
            let better = match &best {
                None => true,
                Some((best_parsed, _, best_version)) => match (&parsed, best_parsed) {
                    (Some(a), Some(b)) => a > b,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => version > *best_version,
                },
            };
            if better {
                best = Some((parsed, key, version));
            }
        }
        let (_, key, version) = best?;
        installed(key, version)
    }

    /// Every adaptor version recorded in the repo's `package.json`, in alias order.
    pub fn list(&self) -> Result<Vec<Installed>, RepoError> {
        let deps = match read_dependencies(&self.dir) {
            Ok(deps) => deps,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(RepoError::Io {
                    path: self.dir.join("package.json"),
                    source,
                });
            }
        };
        Ok(deps
            .iter()
            .filter_map(|(key, value)| {
                let (name, version) = value
                    .as_str()
                    .and_then(|v| v.strip_prefix("npm:"))
                    .and_then(|v| v.rfind('@').filter(|&i| i > 0).map(|i| v.split_at(i)))
                    .map(|(name, version)| (name, &version[1..]))
                    .or_else(|| split_alias(key))?;
                Some(Installed {
                    name: name.to_owned(),
                    version: version.to_owned(),
                    path: self.dir.join("node_modules").join(key),
                })
            })
            .collect())
    }

    /// Removes every installed adaptor and the repo's `package.json` (the kit's
    /// `openfn repo clean`). Waits for installs in other processes to finish first.
    pub async fn clean(&self) -> Result<(), RepoError> {
        if !self.dir.exists() {
            return Ok(());
        }
        let lock_path = self.dir.join(".lock");
        let _lock = lock_file(lock_path.clone())
            .await
            .map_err(|source| RepoError::Io {
                path: lock_path,
                source,
            })?;
        // `.staging` is left alone: another process may be building a tree there right now
        // (it holds only its alias lock until it commits); leftovers of crashed installs are
        // removed by the next install of the same alias.
        let path = self.dir.join("node_modules");
        match fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(RepoError::Io { path, source }),
        }
        let path = self.dir.join("package.json");
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RepoError::Io { path, source }),
        }
    }

    /// Installs each specifier (exact version, range, dist-tag or none = `latest`) with its
    /// dependency tree, concurrently, skipping versions already installed. Returns what each
    /// specifier resolved to, in order; the first failure is returned as
    /// [`RepoError::Install`].
    pub async fn install(&self, specs: &[Specifier]) -> Result<Vec<Installed>, RepoError> {
        let results = join_all(specs.iter().map(|spec| self.install_one(spec))).await;
        specs
            .iter()
            .zip(results)
            .map(|(spec, result)| {
                result.map_err(|reason| RepoError::Install {
                    specifier: spec.to_string(),
                    reason,
                })
            })
            .collect()
    }

    /// The exact version `spec` names in the registry now (a dist-tag such as `latest`, a
    /// range, or an exact version), without installing anything. For settings that name a
    /// moving target, resolved once at start-up (the worker's `--collections-version latest`).
    pub async fn resolve_version(&self, spec: &Specifier) -> Result<String, RepoError> {
        validate_name(&spec.name).map_err(|reason| RepoError::Install {
            specifier: spec.to_string(),
            reason: InstallError::InvalidName {
                name: spec.name.clone(),
                reason,
            },
        })?;
        self.registry_match(spec)
            .await
            .map(|(version, _)| version.to_string())
            .map_err(|reason| RepoError::Install {
                specifier: spec.to_string(),
                reason,
            })
    }

    /// The registry's version (and manifest) matching `spec`.
    async fn registry_match(
        &self,
        spec: &Specifier,
    ) -> Result<(Version, Arc<Manifest>), InstallError> {
        let packument = self.registry.packument(&spec.name).await?;
        let no_match = || {
            let requirement = spec.version.clone().unwrap_or_else(|| "latest".to_owned());
            InstallError::NoMatchingVersion {
                name: spec.name.clone(),
                nearest: packument.nearest(&requirement),
                requirement,
            }
        };
        let requirement = spec.requirement();
        let matched = match requirement {
            Requirement::Exact(v) => {
                let manifest = packument.version(&v).ok_or_else(no_match)?.clone();
                (v, manifest)
            }
            Requirement::Range(range) => pick(&packument, &range).ok_or_else(no_match)?,
            Requirement::Any | Requirement::Tag(_) => {
                let tag = spec.version.as_deref().unwrap_or("latest");
                match packument.dist_tags.get(tag) {
                    Some(text) => {
                        let v = Version::parse(text).map_err(|_| no_match())?;
                        let manifest = packument.version(&v).ok_or_else(no_match)?.clone();
                        (v, manifest)
                    }
                    None if spec.version.is_none() => {
                        pick(&packument, &Range::any()).ok_or_else(no_match)?
                    }
                    None => return Err(no_match()),
                }
            }
        };
        Ok(matched)
    }

    async fn install_one(&self, spec: &Specifier) -> Result<Installed, InstallError> {
        // `Specifier` fields are public: check the name again before it becomes a path.
        validate_name(&spec.name).map_err(|reason| InstallError::InvalidName {
            name: spec.name.clone(),
            reason,
        })?;
        let requirement = spec.requirement();
        if matches!(requirement, Requirement::Exact(_))
            && let Some(found) = self.resolve(spec)
        {
            return Ok(found);
        }
        // `latest` (or no version) and other dist-tags: what the registry said a moment ago
        let tag = match requirement {
            Requirement::Any | Requirement::Tag(_) => {
                Some(spec.version.clone().unwrap_or_else(|| "latest".to_owned()))
            }
            Requirement::Exact(_) | Requirement::Range(_) => None,
        };
        if let Some(tag) = &tag
            && let Some(version) = self.tags.fresh(&spec.name, tag)
            && let Some(found) = self.resolve(&Specifier::new(spec.name.clone(), Some(version)))
        {
            return Ok(found);
        }
        let (version, manifest) = self.registry_match(spec).await?;
        if let Some(tag) = &tag {
            self.tags.record(&spec.name, tag, &version.to_string());
        }
        let exact = Specifier::new(spec.name.clone(), Some(version.to_string()));
        if let Some(found) = self.resolve(&exact) {
            return Ok(found);
        }
        let alias = alias(&spec.name, &version.to_string());
        // In-process single flight: a second install of this version waits here, then finds it.
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(alias.clone())
            .or_default()
            .clone();
        let _flight = flight.lock().await;
        if let Some(found) = self.resolve(&exact) {
            return Ok(found);
        }
        // Across processes: one installer per alias at a time.
        let lock_path = self
            .dir
            .join(".locks")
            .join(format!("{}.lock", alias.replace('/', "+")));
        let _alias_lock = lock_file(lock_path.clone())
            .await
            .map_err(|e| InstallError::io(lock_path, e))?;
        if let Some(found) = self.resolve(&exact) {
            return Ok(found);
        }
        // Only the holder of the alias lock stages this alias: anything left is from a crash.
        remove_stale_staging(&self.dir, &alias);
        self.install_tree(&spec.name, version, manifest, &alias)
            .await
    }

    async fn install_tree(
        &self,
        name: &str,
        version: Version,
        manifest: Arc<Manifest>,
        alias: &str,
    ) -> Result<Installed, InstallError> {
        let version_text = version.to_string();
        let started = std::time::Instant::now();
        let tree = Tree::resolve(&self.registry, name, version, manifest).await?;
        tracing::debug!(
            alias,
            packages = tree.nodes.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "resolved dependency tree"
        );
        self.report(crate::InstallProgress::Resolved {
            name: name.to_owned(),
            version: version_text.clone(),
            packages: (0..tree.nodes.len())
                .filter(|&id| !tree.is_pruned(id))
                .count(),
        });
        tree.verify()
            .map_err(|reason| InstallError::InvalidMetadata {
                name: name.to_owned(),
                reason: format!("the resolved tree is inconsistent: {reason}"),
            })?;
        let staging = self.dir.join(".staging").join(format!(
            "{}-{}-{:08x}",
            staging_prefix(alias),
            std::process::id(),
            rand::random::<u32>()
        ));
        let started = std::time::Instant::now();
        let result = self.fill_staging(&tree, &staging).await;
        tracing::debug!(
            alias,
            elapsed_ms = started.elapsed().as_millis(),
            "downloaded and unpacked"
        );
        let result = match result {
            Ok(()) => self.commit(&staging, name, &version_text, alias).await,
            Err(e) => Err(e),
        };
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    /// Downloads, verifies and unpacks every package of the tree into `staging`.
    async fn fill_staging(&self, tree: &Tree, staging: &Path) -> Result<(), InstallError> {
        let concurrency = self.registry.config().concurrency.max(1);
        let results: Vec<(usize, Result<(), InstallError>)> =
            futures::stream::iter((0..tree.nodes.len()).filter(|&id| !tree.is_pruned(id)))
                .map(|id| async move {
                    let dest = staging.join(tree.relative_path(id));
                    (id, self.fetch_package(tree, id, dest).await)
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let mut failure: Option<(usize, InstallError)> = None;
        for (id, result) in results {
            let Err(e) = result else { continue };
            let node = &tree.nodes[id];
            if node.optional {
                tracing::debug!(package = node.name, "skipping optional package: {e}");
                let _ = fs::remove_dir_all(staging.join(tree.relative_path(id)));
            } else if failure.as_ref().is_none_or(|(first, _)| id < *first) {
                failure = Some((id, e));
            }
        }
        match failure {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    async fn fetch_package(
        &self,
        tree: &Tree,
        id: usize,
        dest: PathBuf,
    ) -> Result<(), InstallError> {
        let node = &tree.nodes[id];
        let dist = &node.manifest.dist;
        let started = std::time::Instant::now();
        let bytes = self.registry.tarball(&dist.tarball).await?;
        let downloaded = started.elapsed();
        // Nothing is written before the bytes match the registry's integrity.
        tarball::verify(dist, &bytes).map_err(|reason| InstallError::Integrity {
            name: node.name.clone(),
            version: node.version.to_string(),
            reason,
        })?;
        let size = bytes.len();
        let root = &tree.nodes[0].name;
        let unpacked = tokio::task::spawn_blocking(move || tarball::unpack(&bytes, &dest)).await;
        tracing::debug!(
            package = node.name,
            size,
            download_ms = downloaded.as_millis(),
            unpack_ms = (started.elapsed() - downloaded).as_millis(),
            "fetched package"
        );
        let tarball_error = |reason: String| InstallError::Tarball {
            name: node.name.clone(),
            version: node.version.to_string(),
            reason,
        };
        match unpacked {
            Ok(result) => result.map_err(tarball_error)?,
            Err(join) => return Err(tarball_error(join.to_string())),
        }
        self.report(crate::InstallProgress::Fetched {
            name: root.clone(),
            package: node.name.clone(),
            bytes: size as u64,
        });
        Ok(())
    }

    /// Moves a complete staging tree to `node_modules/<alias>` and records it in `package.json`,
    /// under the repo-wide lock.
    async fn commit(
        &self,
        staging: &Path,
        name: &str,
        version: &str,
        alias: &str,
    ) -> Result<Installed, InstallError> {
        let lock_path = self.dir.join(".lock");
        let _lock = lock_file(lock_path.clone())
            .await
            .map_err(|e| InstallError::io(lock_path, e))?;
        let target = self.dir.join("node_modules").join(alias);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| InstallError::io(parent, e))?;
        }
        if fs::symlink_metadata(&target).is_ok() {
            // Present on disk but not recorded (an interrupted install, or a hand edit):
            // replace it. The alias lock guarantees no other installer is writing it.
            let stale = staging.with_extension("stale");
            fs::rename(&target, &stale).map_err(|e| InstallError::io(&target, e))?;
            let _ = fs::remove_dir_all(&stale);
        }
        fs::rename(staging, &target).map_err(|e| InstallError::io(&target, e))?;
        add_dependency(&self.dir, alias, &format!("npm:{name}@{version}"))?;
        Ok(Installed {
            name: name.to_owned(),
            version: version.to_owned(),
            path: target,
        })
    }
}

fn staging_prefix(alias: &str) -> String {
    alias.replace('/', "+")
}

fn remove_stale_staging(dir: &Path, alias: &str) {
    let prefix = format!("{}-", staging_prefix(alias));
    let Ok(entries) = fs::read_dir(dir.join(".staging")) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::debug!("removing stale staging dir {}", entry.path().display());
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// An exclusive `flock`-style lock, released when dropped (the file is closed).
struct FileLock(#[allow(dead_code, reason = "held for its Drop")] fs::File);

async fn lock_file(path: PathBuf) -> io::Result<FileLock> {
    tokio::task::spawn_blocking(move || {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        FileExt::lock_exclusive(&file)?;
        Ok(FileLock(file))
    })
    .await
    .map_err(io::Error::other)?
}

fn read_dependencies(dir: &Path) -> io::Result<BTreeMap<String, Value>> {
    let text = fs::read(dir.join("package.json"))?;
    let json: Value = serde_json::from_slice(&text).map_err(io::Error::other)?;
    Ok(match json.get("dependencies") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => BTreeMap::new(),
    })
}

fn default_package_json() -> Value {
    serde_json::json!({
        "name": "openfn-repo",
        "description": "A repository for modules used by the openfn runtime",
        "private": true,
        "author": "Open Function Group <admin@openfn.org>",
        "version": "1.0.0",
        "dependencies": {}
    })
}

/// Adds `"<alias>": "<value>"` to the repo's `package.json` (created if missing), writing a
/// temporary file and renaming it over the old one.
fn add_dependency(dir: &Path, alias: &str, value: &str) -> Result<(), InstallError> {
    let path = dir.join("package.json");
    let mut json = match fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text).unwrap_or_else(|e| {
            tracing::warn!("replacing unreadable {}: {e}", path.display());
            default_package_json()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => default_package_json(),
        Err(e) => return Err(InstallError::io(&path, e)),
    };
    if !json.is_object() {
        json = default_package_json();
    }
    if let Some(object) = json.as_object_mut() {
        let deps = object
            .entry("dependencies")
            .or_insert_with(|| Value::Object(Map::new()));
        if !deps.is_object() {
            *deps = Value::Object(Map::new());
        }
        if let Some(deps) = deps.as_object_mut() {
            deps.insert(alias.to_owned(), Value::String(value.to_owned()));
            deps.sort_keys();
        }
    }
    let mut text = serde_json::to_string_pretty(&json)
        .map_err(|e| InstallError::io(&path, io::Error::other(e)))?;
    text.push('\n');
    let temp = dir.join(format!(
        "package.json.{}-{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    fs::write(&temp, text).map_err(|e| InstallError::io(&temp, e))?;
    fs::rename(&temp, &path).map_err(|e| InstallError::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn repo_and_install_future_can_be_shared_and_spawned() {
        let dir = std::env::temp_dir().join("openfn-repo-never-created");
        let repo = Repo::open(&dir, RegistryConfig::default()).expect("open");
        assert_send_sync(&repo);
        let specs = [Specifier::new("x", Some("1.0.0"))];
        assert_send(repo.install(&specs));
        assert_send(repo.clean());
        assert!(!dir.exists(), "open does not touch the disk");
    }

    #[tokio::test]
    async fn hand_built_specifiers_cannot_escape_the_repo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo =
            Repo::open(dir.path(), RegistryConfig::new("http://127.0.0.1:9/")).expect("open");
        let evil = Specifier::new("../../evil", Some("1.0.0"));
        assert_eq!(repo.resolve(&evil), None);
        let err = repo.install(&[evil]).await.expect_err("refused");
        assert!(err.is_permanent(), "{err}");
        assert_eq!(repo.registry_requests(), 0);
    }
}
