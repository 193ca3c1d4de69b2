//! Registry configuration: which npm registry to ask (per scope), and how to retry. Parsed once
//! at the edge by [`RegistryConfig::from_env`] (env + `~/.npmrc`) and passed down as a value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public npm registry, used when nothing else is configured.
pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

/// Where to fetch packages from and how hard to try.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Base URL of the default registry, always ending in `/`.
    pub registry: String,
    /// Per-scope registries (`@scope:registry=` in `.npmrc`), keyed by `@scope`, each ending in `/`.
    pub scopes: BTreeMap<String, String>,
    /// Retry policy for transient registry errors.
    pub retry: RetryPolicy,
    /// How many tarballs are downloaded at once.
    pub concurrency: usize,
    /// Timeout for connecting to the registry.
    pub connect_timeout: Duration,
    /// Timeout for one whole request (packument or tarball).
    pub request_timeout: Duration,
}

/// Exponential backoff with jitter for transient errors (5xx, 429, timeouts, refused
/// connections). Attempt `n` (from 0) waits a random duration in
/// `[d/2, d]` with `d = min(base_delay * 2^n, max_delay)`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub attempts: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Cap on any single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::new(DEFAULT_REGISTRY)
    }
}

impl RegistryConfig {
    /// A configuration for one registry, with default retry and concurrency.
    pub fn new(registry: &str) -> Self {
        RegistryConfig {
            registry: with_slash(registry),
            scopes: BTreeMap::new(),
            retry: RetryPolicy::default(),
            concurrency: 16,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }

    /// Reads the configuration the way npm does, at the edge of the program:
    /// `NPM_CONFIG_REGISTRY` (or `npm_config_registry`) wins over `registry=` in the user npmrc
    /// (`NPM_CONFIG_USERCONFIG`, default `~/.npmrc`); `@scope:registry=` lines set scoped
    /// registries. Unreadable files count as empty.
    pub fn from_env() -> Self {
        let env = |key: &str| {
            std::env::var(key)
                .ok()
                .or_else(|| std::env::var(key.to_lowercase()).ok())
                .filter(|v| !v.trim().is_empty())
        };
        let npmrc_path: Option<PathBuf> = env("NPM_CONFIG_USERCONFIG")
            .map(PathBuf::from)
            .or_else(|| dirs::home_dir().map(|home| home.join(".npmrc")));
        let npmrc = npmrc_path.as_deref().and_then(read_optional);
        Self::from_sources(env("NPM_CONFIG_REGISTRY").as_deref(), npmrc.as_deref())
    }

    /// Builds the configuration from an env registry value and the text of an npmrc file.
    pub fn from_sources(env_registry: Option<&str>, npmrc: Option<&str>) -> Self {
        let mut config = RegistryConfig::default();
        if let Some(text) = npmrc {
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                    continue;
                }
                let Some((key, value)) = line.split_once('=') else {
                    continue;
                };
                let (key, value) = (key.trim(), unquote(value.trim()));
                if value.is_empty() {
                    continue;
                }
                if key == "registry" {
                    config.registry = with_slash(value);
                } else if let Some(scope) = key.strip_suffix(":registry")
                    && scope.starts_with('@')
                {
                    config.scopes.insert(scope.to_owned(), with_slash(value));
                }
            }
        }
        if let Some(registry) = env_registry.map(str::trim).filter(|r| !r.is_empty()) {
            config.registry = with_slash(registry);
        }
        config
    }

    /// The registry base URL for a package name (its scope's registry, else the default).
    pub fn registry_for(&self, name: &str) -> &str {
        name.split_once('/')
            .filter(|(scope, _)| scope.starts_with('@'))
            .and_then(|(scope, _)| self.scopes.get(scope))
            .unwrap_or(&self.registry)
    }
}

fn read_optional(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

fn with_slash(url: &str) -> String {
    let url = url.trim();
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npmrc_and_env_precedence() {
        let npmrc = "# comment\nregistry = https://npm.example.com\n@acme:registry=\"https://acme.example.com/npm\"\n//npm.example.com/:_authToken=secret\n";
        let config = RegistryConfig::from_sources(None, Some(npmrc));
        assert_eq!(config.registry, "https://npm.example.com/");
        assert_eq!(
            config.registry_for("@acme/pkg"),
            "https://acme.example.com/npm/"
        );
        assert_eq!(
            config.registry_for("@other/pkg"),
            "https://npm.example.com/"
        );
        assert_eq!(config.registry_for("lodash"), "https://npm.example.com/");
        let config = RegistryConfig::from_sources(Some("http://127.0.0.1:4873"), Some(npmrc));
        assert_eq!(config.registry, "http://127.0.0.1:4873/");
        assert_eq!(
            RegistryConfig::from_sources(None, None).registry,
            DEFAULT_REGISTRY
        );
    }
}
