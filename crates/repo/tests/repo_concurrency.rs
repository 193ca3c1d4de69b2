//! Concurrent installs of the same adaptor: tasks sharing one `Repo` (single flight), two `Repo`
//! values on one directory (the lock files), and two processes on one directory.

mod support;

use std::time::Duration;

use openfn_repo::{RegistryConfig, Repo, Specifier};
use support::{FakeRegistry, Pkg, check_repo, within};

const CHILD_DIR: &str = "OPENFN_REPO_TEST_CHILD_DIR";
const CHILD_REGISTRY: &str = "OPENFN_REPO_TEST_CHILD_REGISTRY";

fn spec(text: &str) -> Specifier {
    Specifier::parse(text).expect("valid specifier")
}

fn publish_adaptor(registry: &FakeRegistry) {
    registry.publish(
        Pkg::new("@openfn/language-x", "1.0.0")
            .dep("a", "^1")
            .dep("b", "^1"),
    );
    registry.publish(Pkg::new("a", "1.0.0").dep("c", "^1"));
    registry.publish(Pkg::new("b", "1.0.0").dep("c", "^2"));
    registry.publish(Pkg::new("c", "1.0.0"));
    registry.publish(Pkg::new("c", "2.0.0"));
    // Slow tarballs so the installs overlap.
    registry.delay_tarballs(Duration::from_millis(50));
}

fn assert_each_tarball_downloaded_once(registry: &FakeRegistry) {
    let counts = registry.tarball_requests();
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}

#[tokio::test]
async fn concurrent_tasks_share_one_install() {
    let registry = FakeRegistry::start().await;
    publish_adaptor(&registry);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let target = [spec("@openfn/language-x@1.0.0")];
    let (first, second) =
        within(async { tokio::join!(repo.install(&target), repo.install(&target)) }).await;
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert_eq!(first, second);
    assert_each_tarball_downloaded_once(&registry);
    assert_eq!(check_repo(dir.path()), 1);
}

#[tokio::test]
async fn two_repo_values_on_one_directory() {
    let registry = FakeRegistry::start().await;
    publish_adaptor(&registry);
    registry.publish(Pkg::new("other", "1.0.0").dep("c", "^1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let one = Repo::open(dir.path(), registry.config()).expect("open");
    let two = Repo::open(dir.path(), registry.config()).expect("open");
    let target = [spec("@openfn/language-x@1.0.0")];
    let both = [spec("@openfn/language-x@1.0.0"), spec("other@1.0.0")];
    let (first, second) =
        within(async { tokio::join!(one.install(&target), two.install(&both)) }).await;
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert_eq!(first[0], second[0]);
    assert_eq!(check_repo(dir.path()), 2, "both adaptors recorded");
    // language-x was downloaded once although both asked for it; c@1 twice because each
    // adaptor's tree is self-contained.
    let counts = registry.tarball_requests();
    let c1 = counts.get("tarballs/c-1.0.0.tgz").copied();
    assert_eq!(c1, Some(2), "{counts:?}");
    assert!(
        counts
            .iter()
            .all(|(path, &n)| n == 1 || path.ends_with("c-1.0.0.tgz")),
        "{counts:?}"
    );
}

/// Runs as the parent (spawning two copies of this test binary as children) unless the child
/// environment variables are set, in which case it performs one install and exits.
#[tokio::test]
async fn two_processes_install_the_same_adaptor() {
    if let (Ok(dir), Ok(registry)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_REGISTRY)) {
        let repo = Repo::open(dir, RegistryConfig::new(&registry)).expect("open");
        let installed = within(repo.install(&[spec("@openfn/language-x@1.0.0")]))
            .await
            .expect("child install");
        println!("CHILD-INSTALLED {}", installed[0].path.display());
        return;
    }
    let registry = FakeRegistry::start().await;
    publish_adaptor(&registry);
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let spawn = || {
        tokio::process::Command::new(&exe)
            .args([
                "two_processes_install_the_same_adaptor",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_REGISTRY, &registry.url)
            .kill_on_drop(true)
            .output()
    };
    let (one, two) = within(async { tokio::join!(spawn(), spawn()) }).await;
    let expected = dir.path().join("node_modules/@openfn/language-x_1.0.0");
    for output in [one.expect("spawn child"), two.expect("spawn child")] {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("CHILD-INSTALLED {}", expected.display())),
            "{stdout}"
        );
    }
    assert_each_tarball_downloaded_once(&registry);
    assert_eq!(check_repo(dir.path()), 1);
}
