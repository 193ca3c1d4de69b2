//! Collections start-up (docs/protocol.md §6.5 step 4, §7.4): when collections are enabled and the
//! configured adaptor version is not exact (`latest`, a tag or a range, or none given), it is
//! resolved once against the registry the engine installs from, as the kit does with
//! `npm view @openfn/language-collections@latest version`. Every run then asks for the same
//! exact version, which installs once and resolves from disk afterwards, with no registry
//! call per run. If the registry cannot answer, runs keep asking for the configured version.

use std::path::Path;
use std::time::Duration;

use openfn_repo::{RegistryConfig, Repo, Requirement, Specifier};

use crate::config::Config;

/// The collections adaptor's package name.
pub const COLLECTIONS_ADAPTOR: &str = "@openfn/language-collections";

/// How long start-up waits for the registry before going on with the configured version.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Resolve `config.collections_version` to an exact version when collections are enabled and
/// it is not one already. Returns what was decided, for the log; the configuration is left as
/// it was when the registry cannot answer.
pub async fn resolve_collections_version(
    config: &mut Config,
    repo_dir: &Path,
    registry: RegistryConfig,
) -> Option<Result<String, String>> {
    config.collections_url.as_ref()?;
    let wanted = config
        .collections_version
        .clone()
        .unwrap_or_else(|| "latest".to_string());
    let spec = Specifier::new(COLLECTIONS_ADAPTOR, Some(wanted.clone()));
    if matches!(spec.requirement(), Requirement::Exact(_)) {
        return None;
    }
    let resolved = async {
        let repo = Repo::open(repo_dir, registry).map_err(|e| e.to_string())?;
        tokio::time::timeout(RESOLVE_TIMEOUT, repo.resolve_version(&spec))
            .await
            .map_err(|_| format!("the registry did not answer within {RESOLVE_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())
    }
    .await;
    match &resolved {
        Ok(version) => {
            tracing::info!("Using {COLLECTIONS_ADAPTOR}@{version} ({wanted})");
            config.collections_version = Some(version.clone());
        }
        Err(e) => tracing::warn!(
            "Could not resolve {COLLECTIONS_ADAPTOR}@{wanted}: {e}; runs will ask for {wanted}"
        ),
    }
    Some(resolved)
}
