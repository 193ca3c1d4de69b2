//! Progress of installs, for a display (the CLI's progress bar): an observer set with
//! [`crate::Repo::with_progress`] sees each tree resolved and each package fetched.

use std::sync::Arc;

/// One step of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallProgress {
    /// The dependency tree of `name@version` was resolved: `packages` tarballs to fetch.
    Resolved {
        /// The adaptor being installed.
        name: String,
        /// Its exact version.
        version: String,
        /// How many packages its tree downloads.
        packages: usize,
    },
    /// One package of the tree was downloaded, checked and unpacked.
    Fetched {
        /// The adaptor being installed.
        name: String,
        /// The package fetched (the adaptor or one of its dependencies).
        package: String,
        /// The tarball's size in bytes.
        bytes: u64,
    },
}

/// Called for every [`InstallProgress`]; must be quick (it runs on the install's task).
pub type ProgressFn = Arc<dyn Fn(&InstallProgress) + Send + Sync>;
