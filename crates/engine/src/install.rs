//! Autoinstall: before a run is dispatched, the supervisor makes sure every adaptor of the plan
//! is in the repository (one install at a time, engine-wide) and points each step's `linker`
//! at the installed package.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

/// An installed adaptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledAdaptor {
    /// Package name, e.g. `@openfn/language-http`.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// Package directory.
    pub path: PathBuf,
}

/// A boxed install future.
pub type InstallFuture =
    Pin<Box<dyn Future<Output = Result<InstalledAdaptor, String>> + Send + 'static>>;

/// Installs one adaptor specifier (`name@version`, `name@latest`, `name`) and says where it is.
pub trait AdaptorInstaller: Send + Sync + 'static {
    /// Installs `specifier` unless already installed; returns its location.
    fn install(&self, specifier: &str) -> InstallFuture;

    /// Whether `specifier` is installed already (so [`Self::install`] will not fetch it), from
    /// disk alone. The engine announces an install (`autoinstall-start`) only when it is not.
    fn is_installed(&self, _specifier: &str) -> bool {
        true
    }
}

/// Splits `@scope/name@1.0.0` at the last `@` (when it is not the first character).
pub fn split_specifier(spec: &str) -> (&str, Option<&str>) {
    match spec.rfind('@') {
        Some(i) if i > 0 => (&spec[..i], Some(&spec[i + 1..])),
        _ => (spec, None),
    }
}

/// The default installer: the adaptor repository of `openfn-repo` (npm registry installs into
/// `<repo>/node_modules/<name>_<version>`, no `npm` needed).
pub struct RepoInstaller {
    repo: Arc<openfn_repo::Repo>,
}

impl std::fmt::Debug for RepoInstaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoInstaller")
            .field("dir", &self.repo.dir())
            .finish()
    }
}

impl RepoInstaller {
    /// An installer over an opened repository (the CLI shares its repo with `repo install`).
    pub fn from_repo(repo: Arc<openfn_repo::Repo>) -> Arc<Self> {
        Arc::new(Self { repo })
    }

    /// Opens the repository at `dir`, with the registry configuration from the environment.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Arc<Self>, String> {
        let repo = openfn_repo::Repo::open(dir, openfn_repo::RegistryConfig::from_env())
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Self {
            repo: Arc::new(repo),
        }))
    }
}

impl AdaptorInstaller for RepoInstaller {
    fn is_installed(&self, specifier: &str) -> bool {
        openfn_repo::Specifier::parse(specifier)
            .ok()
            .is_some_and(|spec| self.repo.resolve(&spec).is_some())
    }

    fn install(&self, specifier: &str) -> InstallFuture {
        let repo = Arc::clone(&self.repo);
        let specifier = specifier.to_owned();
        Box::pin(async move {
            let spec = openfn_repo::Specifier::parse(&specifier).map_err(|e| e.to_string())?;
            // Installed already: resolved from disk with no registry call (for a bare name,
            // the highest installed version), so runs pay nothing for a version lookup.
            if let Some(found) = repo.resolve(&spec) {
                return Ok(InstalledAdaptor {
                    name: found.name,
                    version: found.version,
                    path: found.path,
                });
            }
            match repo.install(std::slice::from_ref(&spec)).await {
                Ok(mut installed) if !installed.is_empty() => {
                    let found = installed.remove(0);
                    Ok(InstalledAdaptor {
                        name: found.name,
                        version: found.version,
                        path: found.path,
                    })
                }
                Ok(_) => Err(format!("{specifier} was not installed")),
                Err(openfn_repo::RepoError::Install { reason, .. }) => Err(reason.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// An offline installer: only finds adaptors already installed in the repository
/// (`<repo>/node_modules/<name>_<version>`); anything else is an install error.
#[derive(Debug, Clone)]
pub struct PreinstalledRepo {
    dir: PathBuf,
}

impl PreinstalledRepo {
    /// A repository at `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Arc<Self> {
        Arc::new(Self {
            dir: dir.as_ref().to_path_buf(),
        })
    }
}

impl AdaptorInstaller for PreinstalledRepo {
    fn install(&self, specifier: &str) -> InstallFuture {
        let (name, version) = split_specifier(specifier);
        let name = name.to_owned();
        let version = version.map(str::to_owned);
        let dir = self.dir.clone();
        Box::pin(async move {
            let Some(version) = version.filter(|v| !v.is_empty() && v != "latest" && v != "next")
            else {
                return Err(
                    "adaptor repository cannot resolve versions (no installer configured)"
                        .to_owned(),
                );
            };
            let path = dir.join("node_modules").join(format!("{name}_{version}"));
            if tokio::fs::metadata(path.join("package.json")).await.is_ok() {
                Ok(InstalledAdaptor {
                    name,
                    version,
                    path,
                })
            } else {
                Err(format!(
                    "{name}@{version} is not installed in {}",
                    dir.display()
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specifiers_split_at_the_last_at() {
        assert_eq!(
            split_specifier("@openfn/language-http@7.2.10"),
            ("@openfn/language-http", Some("7.2.10"))
        );
        assert_eq!(
            split_specifier("@openfn/language-http"),
            ("@openfn/language-http", None)
        );
        assert_eq!(split_specifier("lodash@4"), ("lodash", Some("4")));
    }
}
