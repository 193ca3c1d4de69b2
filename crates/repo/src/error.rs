//! Errors of the adaptor repository: [`RepoError`] for every public operation, with
//! [`InstallError`] as the reason an install failed.
//!
//! Install failures carry the specifier the caller asked for, so the engine and the CLI can show
//! the kit's `AutoinstallError` text (`Error installing <specifier>: <reason>`) through
//! [`RepoError::autoinstall_message`].

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The text is not a valid `name[@version]` adaptor specifier.
    #[error("invalid adaptor specifier {specifier:?}: {reason}")]
    InvalidSpecifier {
        /// The text as given.
        specifier: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Installing one specifier failed.
    #[error("error installing {specifier}: {reason}")]
    Install {
        /// The specifier as the caller gave it (`name` or `name@version`).
        specifier: String,
        /// Why it failed.
        #[source]
        reason: InstallError,
    },
    /// Reading or writing the repo directory failed outside an install (`list`, `clean`).
    #[error("repo i/o error at {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The HTTP client for the registry could not be built.
    #[error("cannot build the registry http client: {0}")]
    Client(#[source] reqwest::Error),
}

impl RepoError {
    /// The kit's `AutoinstallError` message for an install failure:
    /// `Error installing <specifier>: <reason>`. `None` for errors that are not install failures.
    pub fn autoinstall_message(&self) -> Option<String> {
        match self {
            RepoError::Install { specifier, reason } => {
                Some(format!("Error installing {specifier}: {reason}"))
            }
            _ => None,
        }
    }

    /// True when retrying the same install later cannot help: the package or version does not
    /// exist, a tarball failed its integrity check, the specifier is malformed. False for
    /// registry outages (after the retries were spent) and local i/o errors.
    pub fn is_permanent(&self) -> bool {
        match self {
            RepoError::InvalidSpecifier { .. } => true,
            RepoError::Install { reason, .. } => reason.is_permanent(),
            RepoError::Io { .. } | RepoError::Client(_) => false,
        }
    }
}

/// Why installing a package failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The registry has no such package (HTTP 404 on the packument).
    #[error("package {name} not found in the registry at {registry}")]
    PackageNotFound {
        /// Package name.
        name: String,
        /// Registry base URL that was asked.
        registry: String,
    },
    /// No published version satisfies the requested range.
    #[error("no version of {name} matches {requirement:?}")]
    NoMatchingVersion {
        /// Package name.
        name: String,
        /// The version, range or dist-tag asked for.
        requirement: String,
    },
    /// A tarball's bytes do not match the registry's `dist.integrity` (or `dist.shasum`).
    #[error("integrity check failed for {name}@{version}: {reason}")]
    Integrity {
        /// Package name.
        name: String,
        /// Package version.
        version: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// The package name is not a valid npm name (or would escape the repo as a path).
    #[error("invalid package name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The registry answered with a status that retrying will not change (4xx other than 404).
    #[error("registry request {url} failed with status {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// The registry kept failing with transient errors (5xx, timeouts, refused connections) until
    /// the retries were spent.
    #[error("registry unavailable after {attempts} attempts at {url}: {last}")]
    Unavailable {
        /// The URL requested.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last error seen.
        last: String,
    },
    /// The registry's metadata for a package could not be understood.
    #[error("invalid registry metadata for {name}: {reason}")]
    InvalidMetadata {
        /// Package name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A dependency is declared in a form this installer does not support (git, file, URL).
    #[error(
        "unsupported dependency {name}@{spec:?} (only registry versions, ranges, tags and npm: aliases are supported)"
    )]
    UnsupportedDependency {
        /// Dependency name.
        name: String,
        /// Its declared spec.
        spec: String,
    },
    /// A tarball could not be decompressed or unpacked safely.
    #[error("cannot unpack {name}@{version}: {reason}")]
    Tarball {
        /// Package name.
        name: String,
        /// Package version.
        version: String,
        /// What went wrong.
        reason: String,
    },
    /// A local file operation failed while installing.
    #[error("i/o error at {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl InstallError {
    /// See [`RepoError::is_permanent`].
    pub fn is_permanent(&self) -> bool {
        match self {
            InstallError::PackageNotFound { .. }
            | InstallError::NoMatchingVersion { .. }
            | InstallError::InvalidName { .. }
            | InstallError::Integrity { .. }
            | InstallError::Status { .. }
            | InstallError::InvalidMetadata { .. }
            | InstallError::UnsupportedDependency { .. }
            | InstallError::Tarball { .. } => true,
            InstallError::Unavailable { .. } | InstallError::Io { .. } => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        InstallError::Io {
            path: path.into(),
            source,
        }
    }
}
