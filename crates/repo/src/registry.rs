//! The npm registry client: abbreviated packuments (`application/vnd.npm.install-v1+json`),
//! tarball downloads, retries with exponential backoff and jitter for transient errors, and an
//! in-memory packument cache with single flight per package name.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nodejs_semver::Version;
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::config::RegistryConfig;
use crate::error::InstallError;

const ACCEPT_CORGI: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// How long a fetched packument is reused before it is fetched again.
const PACKUMENT_TTL: Duration = Duration::from_secs(60);

/// One published version of a package, as the abbreviated packument describes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Manifest {
    #[serde(default, deserialize_with = "string_map")]
    pub dependencies: BTreeMap<String, String>,
    #[serde(
        default,
        rename = "optionalDependencies",
        deserialize_with = "string_map"
    )]
    pub optional_dependencies: BTreeMap<String, String>,
    #[serde(default, rename = "peerDependencies", deserialize_with = "string_map")]
    pub peer_dependencies: BTreeMap<String, String>,
    #[serde(default, rename = "peerDependenciesMeta")]
    pub peer_dependencies_meta: Value,
    #[serde(default, deserialize_with = "string_list")]
    pub os: Vec<String>,
    #[serde(default, deserialize_with = "string_list")]
    pub cpu: Vec<String>,
    #[serde(default)]
    pub deprecated: Value,
    pub dist: Dist,
}

impl Manifest {
    pub(crate) fn is_deprecated(&self) -> bool {
        match &self.deprecated {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        }
    }

    pub(crate) fn peer_is_optional(&self, name: &str) -> bool {
        self.peer_dependencies_meta
            .get(name)
            .and_then(|meta| meta.get("optional"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// Where a version's tarball is and how to check it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Dist {
    pub tarball: String,
    #[serde(default)]
    pub integrity: Option<String>,
    #[serde(default)]
    pub shasum: Option<String>,
}

/// A package's metadata: its dist-tags and every published version that parses as semver.
#[derive(Debug)]
pub(crate) struct Packument {
    pub dist_tags: BTreeMap<String, String>,
    /// Sorted ascending by version.
    pub versions: Vec<(Version, Arc<Manifest>)>,
}

#[derive(Deserialize)]
struct RawPackument {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "dist-tags", deserialize_with = "string_map")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, Value>,
}

impl Packument {
    fn parse(name: &str, body: &[u8]) -> Result<Packument, InstallError> {
        let invalid = |reason: String| InstallError::InvalidMetadata {
            name: name.to_owned(),
            reason,
        };
        let raw: RawPackument =
            serde_json::from_slice(body).map_err(|e| invalid(format!("packument: {e}")))?;
        if let Some(found) = &raw.name
            && found != name
        {
            return Err(invalid(format!("the packument is for {found:?}")));
        }
        let mut versions = Vec::with_capacity(raw.versions.len());
        for (text, value) in raw.versions {
            let Ok(version) = Version::parse(&text) else {
                continue;
            };
            // A malformed entry makes only that version unusable.
            match serde_json::from_value::<Manifest>(value) {
                Ok(manifest) => versions.push((version, Arc::new(manifest))),
                Err(e) => tracing::debug!(package = name, version = text, "skipping version: {e}"),
            }
        }
        versions.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Packument {
            dist_tags: raw.dist_tags,
            versions,
        })
    }

    /// Up to four published versions near `requirement` (for a "no such version" error).
    pub(crate) fn nearest(&self, requirement: &str) -> Vec<String> {
        crate::suggest::nearest_versions(self.versions.iter().map(|(v, _)| v), requirement)
    }

    pub(crate) fn version(&self, version: &Version) -> Option<&Arc<Manifest>> {
        self.versions
            .binary_search_by(|(v, _)| v.cmp(version))
            .ok()
            .map(|i| &self.versions[i].1)
    }
}

type PackumentCell = Arc<OnceCell<(Instant, Arc<Packument>)>>;

/// The registry client shared by all installs of one [`crate::Repo`].
pub(crate) struct Registry {
    /// Built on first use: building it loads TLS roots (a few ms), which a run that only
    /// resolves installed adaptors never needs.
    client: std::sync::OnceLock<reqwest::Client>,
    config: RegistryConfig,
    packuments: Mutex<HashMap<String, PackumentCell>>,
    requests: std::sync::atomic::AtomicU64,
}

impl Registry {
    pub(crate) fn new(config: RegistryConfig) -> Registry {
        Registry {
            client: std::sync::OnceLock::new(),
            config,
            packuments: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn client(&self) -> Result<&reqwest::Client, InstallError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.request_timeout)
            .user_agent(concat!("openfn-repo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| InstallError::HttpClient {
                reason: error_chain(&e),
            })?;
        // A concurrent caller may have won; either client is fine.
        Ok(self.client.get_or_init(|| client))
    }

    pub(crate) fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// How many HTTP requests this client has made (including retries).
    pub(crate) fn request_count(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The packument for `name`, from the cache when fresh; concurrent callers for the same name
    /// share one request.
    pub(crate) async fn packument(&self, name: &str) -> Result<Arc<Packument>, InstallError> {
        let cell = {
            let mut map = self
                .packuments
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let cell = map.entry(name.to_owned()).or_default();
            if cell
                .get()
                .is_some_and(|(fetched, _)| fetched.elapsed() > PACKUMENT_TTL)
            {
                *cell = PackumentCell::default();
            }
            cell.clone()
        };
        let (_, packument) = cell
            .get_or_try_init(|| async {
                let registry = self.config.registry_for(name);
                let url = format!("{registry}{}", name.replace('/', "%2f"));
                let body = self.get(&url, ACCEPT_CORGI).await.map_err(|e| match e {
                    FetchError::NotFound => InstallError::PackageNotFound {
                        name: name.to_owned(),
                        registry: registry.to_owned(),
                        suggestion: crate::suggest::suggest_adaptor(name),
                    },
                    FetchError::Failed(e) => e,
                })?;
                let packument = Packument::parse(name, &body)?;
                Ok::<_, InstallError>((Instant::now(), Arc::new(packument)))
            })
            .await?;
        Ok(packument.clone())
    }

    /// Downloads a tarball (retrying transient errors).
    pub(crate) async fn tarball(&self, url: &str) -> Result<Vec<u8>, InstallError> {
        self.get(url, "application/octet-stream")
            .await
            .map_err(|e| match e {
                FetchError::NotFound => InstallError::Status {
                    url: url.to_owned(),
                    status: 404,
                },
                FetchError::Failed(e) => e,
            })
    }

    async fn get(&self, url: &str, accept: &str) -> Result<Vec<u8>, FetchError> {
        let client = self.client().map_err(FetchError::Failed)?;
        let policy = self.config.retry;
        let attempts = policy.attempts.max(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(&policy, attempt - 1)).await;
            }
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = client.get(url).header(reqwest::header::ACCEPT, accept);
            if let Some(token) = self.config.token_for(url) {
                request = request.bearer_auth(&token.0);
            }
            let response = request.send().await;
            let response = match response {
                Ok(response) => response,
                Err(e) => {
                    last = error_chain(&e);
                    tracing::debug!(url, attempt, "registry request failed: {last}");
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                match response.bytes().await {
                    Ok(body) => return Ok(body.to_vec()),
                    Err(e) => {
                        last = error_chain(&e);
                        continue;
                    }
                }
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Err(FetchError::NotFound);
            }
            let transient = status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT;
            if !transient {
                return Err(FetchError::Failed(InstallError::Status {
                    url: url.to_owned(),
                    status: status.as_u16(),
                }));
            }
            last = format!("status {status}");
            tracing::debug!(url, attempt, "registry answered {status}, retrying");
        }
        Err(FetchError::Failed(InstallError::Unavailable {
            url: url.to_owned(),
            attempts,
            last,
        }))
    }
}

enum FetchError {
    NotFound,
    Failed(InstallError),
}

fn backoff(policy: &crate::config::RetryPolicy, retry: u32) -> Duration {
    let factor = 1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX);
    let full = policy
        .base_delay
        .saturating_mul(factor)
        .min(policy.max_delay);
    let half = full / 2;
    let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn string_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    // Old packuments carry arrays, nulls or non-string values here; keep what makes sense.
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    })
}

fn string_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = Value::deserialize(deserializer)?;
    Ok(match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::String(s) => vec![s],
        _ => Vec::new(),
    })
}
