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
    /// Bearer tokens (`//host/path/:_authToken=` in `.npmrc`), keyed by the `//host/path/` prefix
    /// of the URLs they apply to.
    pub auth_tokens: BTreeMap<String, AuthToken>,
    /// Retry policy for transient registry errors.
    pub retry: RetryPolicy,
    /// How many tarballs are downloaded at once.
    pub concurrency: usize,
    /// Timeout for connecting to the registry.
    pub connect_timeout: Duration,
    /// Timeout for one whole request (packument or tarball).
    pub request_timeout: Duration,
}

/// A registry token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(pub String);

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(****)")
    }
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
            auth_tokens: BTreeMap::new(),
            retry: RetryPolicy::default(),
            concurrency: 16,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }

    /// Reads the configuration the way npm does, at the edge of the program:
    /// `NPM_CONFIG_REGISTRY` (or `npm_config_registry`) wins over `registry=` in the user npmrc
    /// (`NPM_CONFIG_USERCONFIG`, default `~/.npmrc`); `@scope:registry=` lines set scoped
    /// registries, `//host/path/:_authToken=` lines set tokens, and `${VAR}` in npmrc values
    /// reads the environment. Unreadable files count as empty.
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
        Self::from_sources(
            env("NPM_CONFIG_REGISTRY").as_deref(),
            npmrc.as_deref(),
            |key| std::env::var(key).ok(),
        )
    }

    /// Builds the configuration from an env registry value and the text of an npmrc file;
    /// `lookup` expands `${VAR}` in npmrc values.
    pub fn from_sources(
        env_registry: Option<&str>,
        npmrc: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
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
                let (key, value) = (key.trim(), expand(unquote(value.trim()), &lookup));
                let value = value.as_str();
                if value.is_empty() {
                    continue;
                }
                if let Some(prefix) = key.strip_suffix(":_authToken")
                    && prefix.starts_with("//")
                {
                    config
                        .auth_tokens
                        .insert(with_slash(prefix), AuthToken(value.to_owned()));
                } else if key == "registry" {
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

impl RegistryConfig {
    /// The token for a URL: the longest configured `//host/path/` prefix of it.
    pub(crate) fn token_for(&self, url: &str) -> Option<&AuthToken> {
        let rest = url.split_once(':').map_or(url, |(_, rest)| rest);
        self.auth_tokens
            .iter()
            .filter(|(prefix, _)| rest.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, token)| token)
    }
}

/// Replaces `${VAR}` with the variable's value (empty when unset), as npm does in npmrc.
fn expand(value: &str, lookup: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&lookup(&rest[start + 2..start + 2 + len]).unwrap_or_default());
        rest = &rest[start + 2 + len + 1..];
    }
    out.push_str(rest);
    out
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
        let npmrc = "# comment\nregistry = https://npm.example.com\n@acme:registry=\"https://acme.example.com/npm\"\n//npm.example.com/:_authToken=secret\n//acme.example.com/npm/:_authToken=${NPM_TOKEN}\n";
        let lookup = |key: &str| (key == "NPM_TOKEN").then(|| "from-env".to_owned());
        let config = RegistryConfig::from_sources(None, Some(npmrc), lookup);
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
        assert_eq!(
            config.token_for("https://npm.example.com/lodash/-/lodash-4.17.21.tgz"),
            Some(&AuthToken("secret".to_owned()))
        );
        assert_eq!(
            config.token_for("https://acme.example.com/npm/@acme%2fpkg"),
            Some(&AuthToken("from-env".to_owned()))
        );
        assert_eq!(config.token_for("https://registry.npmjs.org/lodash"), None);
        assert!(!format!("{config:?}").contains("secret"));
        let config =
            RegistryConfig::from_sources(Some("http://127.0.0.1:4873"), Some(npmrc), lookup);
        assert_eq!(config.registry, "http://127.0.0.1:4873/");
        let config = RegistryConfig::from_sources(None, None, lookup);
        assert_eq!(config.registry, DEFAULT_REGISTRY);
    }
}
