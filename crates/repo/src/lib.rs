//! The adaptor repository: installs `name@version` adaptors with their dependency trees from the
//! npm registry into a repo directory (aliased `name_version` so versions live side by side),
//! resolves installed adaptors from disk, lists and cleans the repo. No `node` or `npm` is
//! needed, and no install scripts are ever run.
//!
//! Layout (a private npm package, as the kit's repo):
//!
//! ```text
//! <repo>/package.json                 {"dependencies": {"<name>_<version>": "npm:<name>@<version>"}}
//! <repo>/node_modules/<name>_<version>/                 the adaptor's own files
//! <repo>/node_modules/<name>_<version>/node_modules/    its whole dependency tree, hoisted
//! ```
//!
//! Each adaptor version's tree is self-contained: its dependencies are placed npm-style (as
//! high as possible) inside the alias's own `node_modules`, with conflicting versions nested
//! deeper, so Node's walk-up resolution from any file of the tree finds the right version
//! without ever leaving the alias directory. One rename publishes a whole tree atomically.
//!
//! Not here: loading or running adaptor code, or reading its exports (the runtime and the
//! compiler do that from [`Installed::path`]).

mod config;
mod error;
mod progress;
mod registry;
mod repo;
mod spec;
mod suggest;
mod tags;
mod tarball;
mod tree;

pub use config::{AuthToken, DEFAULT_REGISTRY, RegistryConfig, RetryPolicy};
pub use error::{FailureKind, InstallError, RepoError};
pub use progress::{InstallProgress, ProgressFn};
pub use repo::{
    CLI_REPO_SUBDIR, Installed, Repo, WORKER_REPO_SUBDIR, default_cli_repo_dir,
    default_worker_repo_dir,
};
pub use spec::{Requirement, Specifier, alias, aliased_name, split_alias};
pub use suggest::suggest_adaptor;
pub use tags::TAG_TTL;
