//! A fake npm registry served by the tests (axum on 127.0.0.1:0): packuments and tarballs are
//! built in memory, every request is counted, and failures can be injected.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the support code"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use openfn_repo::{RegistryConfig, RetryPolicy};
use serde_json::{Value, json};

/// One version to publish.
#[derive(Clone, Default)]
pub struct Pkg {
    pub name: String,
    pub version: String,
    pub dependencies: Vec<(String, String)>,
    pub optional: Vec<(String, String)>,
    pub peer: Vec<(String, String)>,
    /// Extra files (`path` inside the package, contents).
    pub files: Vec<(String, String)>,
}

impl Pkg {
    pub fn new(name: &str, version: &str) -> Self {
        Pkg {
            name: name.to_owned(),
            version: version.to_owned(),
            ..Pkg::default()
        }
    }

    pub fn dep(mut self, name: &str, range: &str) -> Self {
        self.dependencies.push((name.to_owned(), range.to_owned()));
        self
    }

    pub fn optional(mut self, name: &str, range: &str) -> Self {
        self.optional.push((name.to_owned(), range.to_owned()));
        self
    }

    pub fn peer(mut self, name: &str, range: &str) -> Self {
        self.peer.push((name.to_owned(), range.to_owned()));
        self
    }

    fn manifest(&self) -> Value {
        let map = |deps: &[(String, String)]| -> Value {
            deps.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "name": self.name,
            "version": self.version,
            "main": "index.js",
            "dependencies": map(&self.dependencies),
            "optionalDependencies": map(&self.optional),
            "peerDependencies": map(&self.peer),
            "devDependencies": { "never-installed": "1.0.0" },
        })
    }
}

/// A gzipped npm tarball (`package/…`) with the given entries.
pub fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`; write the raw name so traversal tests can build bad archives.
        let name = header.as_old_mut().name.as_mut_slice();
        let bytes = path.as_bytes();
        name[..bytes.len()].copy_from_slice(bytes);
        header.set_cksum();
        builder.append(&header, *data).expect("append to tar");
    }
    builder
        .into_inner()
        .expect("finish tar")
        .finish()
        .expect("finish gzip")
}

fn sri_sha512(bytes: &[u8]) -> String {
    ssri::IntegrityOpts::new()
        .algorithm(ssri::Algorithm::Sha512)
        .chain(bytes)
        .result()
        .to_string()
}

struct Published {
    manifest: Value,
    tarball_path: String,
}

#[derive(Default)]
struct State {
    base: String,
    packages: Mutex<BTreeMap<String, BTreeMap<String, Published>>>,
    tags: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    tarballs: Mutex<HashMap<String, Vec<u8>>>,
    /// Path → number of 500 answers still to give.
    failures: Mutex<HashMap<String, usize>>,
    requests: AtomicUsize,
    log: Mutex<Vec<String>>,
    /// The `Authorization` header of every request (empty when absent).
    authorizations: Mutex<Vec<String>>,
    /// Latency added to every tarball response (widens race windows in concurrency tests).
    tarball_delay: Mutex<Duration>,
}

/// The fake registry; stops when dropped.
pub struct FakeRegistry {
    pub url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRegistry {
    pub async fn start() -> FakeRegistry {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let url = format!("http://{addr}/");
        let state = Arc::new(State {
            base: url.clone(),
            ..State::default()
        });
        let served = state.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: axum::http::HeaderMap| {
            let state = served.clone();
            async move {
                let authorization = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                state
                    .authorizations
                    .lock()
                    .expect("lock")
                    .push(authorization);
                if state
                    .tarballs
                    .lock()
                    .expect("lock")
                    .contains_key(uri.path().trim_start_matches('/'))
                {
                    let delay = *state.tarball_delay.lock().expect("lock");
                    tokio::time::sleep(delay).await;
                }
                handle(&state, &uri)
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        FakeRegistry { url, state, task }
    }

    /// Publishes a version with a generated `package.json` and `index.js`.
    pub fn publish(&self, pkg: Pkg) {
        let manifest = pkg.manifest();
        let package_json = serde_json::to_vec_pretty(&manifest).expect("json");
        let index = format!(
            "module.exports = {{ name: {:?}, version: {:?} }};\n",
            pkg.name, pkg.version
        );
        let mut entries: Vec<(String, Vec<u8>)> = vec![
            ("package/package.json".to_owned(), package_json),
            ("package/index.js".to_owned(), index.into_bytes()),
        ];
        for (path, text) in &pkg.files {
            entries.push((format!("package/{path}"), text.clone().into_bytes()));
        }
        let refs: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(p, d)| (p.as_str(), d.as_slice()))
            .collect();
        self.publish_tarball(&pkg.name, &pkg.version, manifest, tarball(&refs));
    }

    /// Publishes a version whose tarball is exactly `bytes` (integrity computed from them).
    pub fn publish_tarball(&self, name: &str, version: &str, manifest: Value, bytes: Vec<u8>) {
        let tarball_path = format!("tarballs/{}-{version}.tgz", name.replace('/', "+"));
        let mut manifest = manifest;
        manifest["dist"] = json!({
            "tarball": format!("{}{tarball_path}", self.state.base),
            "integrity": sri_sha512(&bytes),
        });
        self.state
            .tarballs
            .lock()
            .expect("lock")
            .insert(tarball_path.clone(), bytes);
        self.state
            .packages
            .lock()
            .expect("lock")
            .entry(name.to_owned())
            .or_default()
            .insert(
                version.to_owned(),
                Published {
                    manifest,
                    tarball_path,
                },
            );
        // `latest` follows the highest non-prerelease published version.
        let mut tags = self.state.tags.lock().expect("lock");
        let entry = tags.entry(name.to_owned()).or_default();
        let newer = entry.get("latest").is_none_or(|current| {
            let parse = |v: &str| nodejs_semver::Version::parse(v).ok();
            parse(version) > parse(current)
        });
        if newer && !version.contains('-') {
            entry.insert("latest".to_owned(), version.to_owned());
        }
    }

    pub fn set_tag(&self, name: &str, tag: &str, version: &str) {
        self.state
            .tags
            .lock()
            .expect("lock")
            .entry(name.to_owned())
            .or_default()
            .insert(tag.to_owned(), version.to_owned());
    }

    /// Replaces a published tarball's bytes without changing its advertised integrity.
    pub fn corrupt_tarball(&self, name: &str, version: &str) {
        let path = format!("tarballs/{}-{version}.tgz", name.replace('/', "+"));
        let mut tarballs = self.state.tarballs.lock().expect("lock");
        if let Some(bytes) = tarballs.get_mut(&path) {
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
        }
    }

    /// The next `count` requests for the packument of `name` answer 500.
    pub fn fail_packument(&self, name: &str, count: usize) {
        self.state
            .failures
            .lock()
            .expect("lock")
            .insert(name.replace('/', "%2f"), count);
    }

    /// Adds latency to every tarball response.
    pub fn delay_tarballs(&self, delay: Duration) {
        *self.state.tarball_delay.lock().expect("lock") = delay;
    }

    /// How many times each tarball path was requested.
    pub fn tarball_requests(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for path in self
            .log()
            .into_iter()
            .filter(|p| p.starts_with("tarballs/"))
        {
            *counts.entry(path).or_insert(0) += 1;
        }
        counts
    }

    /// The `Authorization` header of every request so far ("" when absent).
    pub fn authorizations(&self) -> Vec<String> {
        self.state.authorizations.lock().expect("lock").clone()
    }

    /// Total requests served so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Request paths served so far.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().expect("lock").clone()
    }

    /// A config pointing at this registry, with millisecond retries.
    pub fn config(&self) -> RegistryConfig {
        let mut config = RegistryConfig::new(&self.url);
        config.retry = RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        };
        config
    }
}

fn handle(state: &State, uri: &Uri) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = uri.path().trim_start_matches('/').to_owned();
    state.log.lock().expect("lock").push(path.clone());
    {
        let mut failures = state.failures.lock().expect("lock");
        if let Some(left) = failures.get_mut(&path.to_lowercase())
            && *left > 0
        {
            *left -= 1;
            return (StatusCode::INTERNAL_SERVER_ERROR, "try again").into_response();
        }
    }
    if let Some(bytes) = state.tarballs.lock().expect("lock").get(&path) {
        return (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes.clone(),
        )
            .into_response();
    }
    let name = path.replace("%2f", "/").replace("%2F", "/");
    let packages = state.packages.lock().expect("lock");
    let Some(versions) = packages.get(&name) else {
        return (StatusCode::NOT_FOUND, Json404).into_response();
    };
    let tags = state.tags.lock().expect("lock");
    let body = json!({
        "name": name,
        "dist-tags": tags.get(&name).cloned().unwrap_or_default(),
        "versions": versions
            .iter()
            .map(|(v, p)| (v.clone(), p.manifest.clone()))
            .collect::<serde_json::Map<_, _>>(),
    });
    (
        [(header::CONTENT_TYPE, "application/vnd.npm.install-v1+json")],
        body.to_string(),
    )
        .into_response()
}

struct Json404;

impl IntoResponse for Json404 {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"Not found"}"#,
        )
            .into_response()
    }
}

/// Node's module lookup of a bare package name from a directory: each ancestor's
/// `node_modules/<name>` (skipping ancestors that are themselves `node_modules`).
pub fn node_resolve(from: &Path, name: &str) -> Option<PathBuf> {
    from.ancestors()
        .filter(|dir| dir.file_name().is_none_or(|n| n != "node_modules"))
        .map(|dir| dir.join("node_modules").join(name))
        .find(|candidate| candidate.join("package.json").is_file())
}

/// The `version` in a package directory's `package.json`.
pub fn version_at(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("package.json")).expect("read package.json");
    let json: Value = serde_json::from_str(&text).expect("parse package.json");
    json["version"].as_str().expect("version").to_owned()
}

/// Runs `fut` with a generous timeout so a hang fails the test instead of blocking CI.
pub async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("timed out")
}

/// Checks an installed tree the way Node would use it: from every package directory under
/// `root` (the adaptor included), each of its `dependencies` is found by walk-up with a version
/// its range accepts. Returns how many packages were checked.
pub fn check_tree(root: &Path) -> usize {
    let mut checked = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let text = std::fs::read_to_string(dir.join("package.json")).expect("package.json");
        let json: Value = serde_json::from_str(&text).expect("json");
        checked += 1;
        if let Some(deps) = json["dependencies"].as_object() {
            for (name, range) in deps {
                let range = range.as_str().expect("range");
                let (target, range) = match range.strip_prefix("npm:") {
                    Some(aliased) => {
                        let at = aliased.rfind('@').expect("npm: alias with version");
                        (aliased[..at].to_owned(), aliased[at + 1..].to_owned())
                    }
                    None => (name.clone(), range.to_owned()),
                };
                let found = node_resolve(&dir, name)
                    .unwrap_or_else(|| panic!("{} cannot find {name}", dir.display()));
                let found_json: Value = serde_json::from_str(
                    &std::fs::read_to_string(found.join("package.json")).expect("read"),
                )
                .expect("json");
                assert_eq!(found_json["name"].as_str(), Some(target.as_str()));
                let version =
                    nodejs_semver::Version::parse(found_json["version"].as_str().expect("version"))
                        .expect("semver");
                if let Ok(range) = nodejs_semver::Range::parse(&range) {
                    assert!(
                        range.satisfies(&version),
                        "{} needs {name}@{range} but finds {version}",
                        dir.display()
                    );
                }
            }
        }
        // Every package below: node_modules/<name> and node_modules/@scope/<name>.
        let Ok(entries) = std::fs::read_dir(dir.join("node_modules")) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_scope = entry.file_name().to_string_lossy().starts_with('@');
            if is_scope {
                for inner in std::fs::read_dir(&path).expect("scope dir").flatten() {
                    stack.push(inner.path());
                }
            } else if path.join("package.json").is_file() {
                stack.push(path);
            }
        }
    }
    checked
}

/// Checks the whole repo: every recorded adaptor is present and its tree resolves, and no
/// staging leftovers remain. Returns the number of recorded adaptors.
pub fn check_repo(dir: &Path) -> usize {
    let text = std::fs::read_to_string(dir.join("package.json")).expect("repo package.json");
    let json: Value = serde_json::from_str(&text).expect("json");
    let deps = json["dependencies"].as_object().expect("dependencies");
    for alias in deps.keys() {
        check_tree(&dir.join("node_modules").join(alias));
    }
    let staging = dir.join(".staging");
    let leftovers: Vec<_> = std::fs::read_dir(&staging)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging leftovers: {leftovers:?}");
    deps.len()
}
