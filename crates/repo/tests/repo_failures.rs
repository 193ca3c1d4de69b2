//! Failure handling against a fake registry: integrity mismatch, transient 500s retried,
//! permanent 404s, missing versions, and tarballs that try to escape their directory.

mod support;

use openfn_repo::{FailureKind, InstallError, Repo, RepoError, Specifier};
use serde_json::json;
use support::{FakeRegistry, Pkg, tarball, within};

fn spec(text: &str) -> Specifier {
    Specifier::parse(text).expect("valid specifier")
}

#[tokio::test]
async fn integrity_mismatch_fails_before_unpacking() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("@openfn/language-x", "1.0.0").dep("dep", "1"));
    registry.publish(Pkg::new("dep", "1.0.0"));
    registry.corrupt_tarball("dep", "1.0.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let err = within(repo.install(&[spec("@openfn/language-x@1.0.0")]))
        .await
        .expect_err("corrupt tarball");
    assert!(err.is_permanent());
    assert!(
        matches!(&err, RepoError::Install { reason: InstallError::Integrity { name, .. }, .. } if name == "dep"),
        "{err:?}"
    );
    let message = err.autoinstall_message().expect("install error");
    assert!(
        message.starts_with(
            "Error installing @openfn/language-x@1.0.0: integrity check failed for dep@1.0.0: expected sha512-"
        ),
        "{message}"
    );
    // Nothing was published into the repo.
    assert!(repo.list().expect("list").is_empty());
    assert!(!dir.path().join("node_modules").exists());
    let staging = dir.path().join(".staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).expect("read").next().is_none());
}

#[tokio::test]
async fn transient_500s_are_retried() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("adaptor", "1.0.0"));
    registry.fail_packument("adaptor", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[spec("adaptor@1.0.0")]))
        .await
        .expect("third attempt succeeds");
    assert_eq!(installed[0].version, "1.0.0");
    let packument_requests = registry.log().iter().filter(|p| *p == "adaptor").count();
    assert_eq!(packument_requests, 3);
}

#[tokio::test]
async fn persistent_500s_exhaust_the_retries() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("adaptor", "1.0.0"));
    registry.fail_packument("adaptor", 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let err = within(repo.install(&[spec("adaptor@1.0.0")]))
        .await
        .expect_err("registry down");
    assert!(!err.is_permanent());
    assert!(
        matches!(
            &err,
            RepoError::Install {
                reason: InstallError::Unavailable { attempts: 4, .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), FailureKind::Unreachable);
    assert!(err.to_string().contains("registry unreachable"), "{err}");
    assert_eq!(registry.requests(), 4);
}

#[tokio::test]
async fn unknown_package_and_version_fail_at_once() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("adaptor", "1.0.0"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");

    let err = within(repo.install(&[spec("@openfn/language-nope@1.0.0")]))
        .await
        .expect_err("no such package");
    assert!(err.is_permanent());
    assert_eq!(err.kind(), FailureKind::NotInRegistry);
    assert_eq!(
        err.autoinstall_message().as_deref(),
        Some(
            format!(
                "Error installing @openfn/language-nope@1.0.0: package @openfn/language-nope not found in the registry at {}",
                registry.url
            )
            .as_str()
        )
    );
    assert_eq!(registry.requests(), 1, "a 404 is not retried");

    let err = within(repo.install(&[spec("adaptor@^2")]))
        .await
        .expect_err("no such version");
    assert_eq!(err.kind(), FailureKind::NoSuchVersion);
    assert_eq!(
        err.autoinstall_message().as_deref(),
        Some(
            "Error installing adaptor@^2: no version of adaptor matches \"^2\"; nearest published versions: 1.0.0"
        )
    );
    let err = within(repo.install(&[spec("adaptor@9.9.9")]))
        .await
        .expect_err("no such version");
    assert!(err.is_permanent(), "{err}");
    assert!(
        err.to_string()
            .ends_with("nearest published versions: 1.0.0"),
        "{err}"
    );

    // a misspelt @openfn adaptor: the known name is suggested, with no extra registry call
    let before = registry.requests();
    let err = within(repo.install(&[spec("@openfn/language-commmon")]))
        .await
        .expect_err("no such package");
    assert_eq!(err.kind(), FailureKind::NotInRegistry);
    assert!(
        err.to_string()
            .ends_with("(did you mean common, i.e. @openfn/language-common?)"),
        "{err}"
    );
    assert_eq!(registry.requests(), before + 1);
}

#[tokio::test]
async fn path_traversal_in_a_tarball_is_refused() {
    let registry = FakeRegistry::start().await;
    let manifest = json!({ "name": "evil", "version": "1.0.0" });
    let bytes = tarball(&[
        (
            "package/package.json",
            br#"{"name":"evil","version":"1.0.0"}"#,
        ),
        ("package/../../../escaped.txt", b"gotcha"),
    ]);
    registry.publish_tarball("evil", "1.0.0", manifest, bytes);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo_dir = dir.path().join("repo");
    let repo = Repo::open(&repo_dir, registry.config()).expect("open");
    let err = within(repo.install(&[spec("evil@1.0.0")]))
        .await
        .expect_err("escaping entry");
    assert!(
        matches!(
            &err,
            RepoError::Install {
                reason: InstallError::Tarball { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("escapes the package"), "{err}");
    for candidate in [
        dir.path().join("escaped.txt"),
        repo_dir.join("escaped.txt"),
        repo_dir.join(".staging/escaped.txt"),
    ] {
        assert!(!candidate.exists(), "{} was written", candidate.display());
    }
    assert!(repo.list().expect("list").is_empty());
}
