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
            RepoError::Io { .. } => false,
        }
    }
}

/// Why installing a package failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The registry has no such package (HTTP 404 on the packument).
    #[error("package {name} not found in the registry at {registry}{}", did_you_mean(suggestion.as_deref()))]
    PackageNotFound {
        /// Package name.
        name: String,
        /// Registry base URL that was asked.
        registry: String,
        /// A known `@openfn/language-*` adaptor whose name is close to a misspelt one
        /// (no registry call: see [`crate::suggest_adaptor`]).
        suggestion: Option<String>,
    },
    /// No published version satisfies the requested range.
    #[error(
        "no version of {name} matches {requirement:?}{}",
        nearest_versions(nearest)
    )]
    NoMatchingVersion {
        /// Package name.
        name: String,
        /// The version, range or dist-tag asked for.
        requirement: String,
        /// The published versions nearest to the one asked for (ascending, at most four).
        nearest: Vec<String>,
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
    #[error("registry unreachable: {url} failed {attempts} times, last with {last}")]
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
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the registry http client: {reason}")]
    HttpClient {
        /// What failed.
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

fn did_you_mean(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(name) => match name.strip_prefix("@openfn/language-") {
            Some(short) => format!(" (did you mean {short}, i.e. {name}?)"),
            None => format!(" (did you mean {name}?)"),
        },
        None => String::new(),
    }
}

fn nearest_versions(nearest: &[String]) -> String {
    if nearest.is_empty() {
        " (the package has no published versions)".to_owned()
    } else {
        format!("; nearest published versions: {}", nearest.join(", "))
    }
}

/// What kind of failure an install error is, for the hint a user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The package is not in the registry.
    NotInRegistry,
    /// The package exists, the version does not.
    NoSuchVersion,
    /// The registry could not be reached (or kept failing).
    Unreachable,
    /// Anything else (integrity, unpacking, local i/o, bad metadata).
    Other,
}

impl FailureKind {
    /// A short hint for a person fixing the failure.
    pub fn hint(self) -> &'static str {
        match self {
            FailureKind::NotInRegistry => "check the adaptor's name",
            FailureKind::NoSuchVersion => "pick one of the published versions",
            FailureKind::Unreachable => {
                "check the network, or the registry set in NPM_CONFIG_REGISTRY or ~/.npmrc"
            }
            FailureKind::Other => "see the message; installing again may help",
        }
    }
}

impl RepoError {
    /// The kind of an install failure ([`FailureKind::Other`] for anything else).
    pub fn kind(&self) -> FailureKind {
        match self {
            RepoError::Install { reason, .. } => reason.kind(),
            RepoError::InvalidSpecifier { .. } => FailureKind::NotInRegistry,
            RepoError::Io { .. } => FailureKind::Other,
        }
    }
}

impl InstallError {
    /// The kind of failure, for the hint a user gets.
    pub fn kind(&self) -> FailureKind {
        match self {
            InstallError::PackageNotFound { .. } | InstallError::InvalidName { .. } => {
                FailureKind::NotInRegistry
            }
            InstallError::NoMatchingVersion { .. } => FailureKind::NoSuchVersion,
            InstallError::Unavailable { .. } | InstallError::HttpClient { .. } => {
                FailureKind::Unreachable
            }
            _ => FailureKind::Other,
        }
    }

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
            InstallError::Unavailable { .. }
            | InstallError::Io { .. }
            | InstallError::HttpClient { .. } => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        InstallError::Io {
            path: path.into(),
            source,
        }
    }
}
