//! Installs against a fake registry: exact versions, ranges, dist-tags, scoped packages,
//! hoisting and nested conflicts, peers and optional dependencies, and resolving installed
//! adaptors without any registry request.

mod support;

use openfn_repo::{Repo, Specifier};
use support::{FakeRegistry, Pkg, node_resolve, version_at, within};

fn spec(text: &str) -> Specifier {
    Specifier::parse(text).expect("valid specifier")
}

fn repo_json(repo: &Repo) -> serde_json::Value {
    let text = std::fs::read_to_string(repo.dir().join("package.json")).expect("package.json");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn exact_range_tag_and_no_version() {
    let registry = FakeRegistry::start().await;
    for v in ["1.0.0", "1.2.0", "1.3.0-beta.1", "2.0.0", "2.1.0"] {
        registry.publish(Pkg::new("adaptor", v));
    }
    registry.set_tag("adaptor", "next", "1.3.0-beta.1");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");

    let installed = within(repo.install(&[
        spec("adaptor@1.0.0"),
        spec("adaptor@^1.1"),
        spec("adaptor@next"),
    ]))
    .await
    .expect("install");
    let versions: Vec<&str> = installed.iter().map(|i| i.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0", "1.2.0", "1.3.0-beta.1"]);
    for i in &installed {
        assert_eq!(version_at(&i.path), i.version);
        assert_eq!(
            i.path,
            dir.path()
                .join("node_modules")
                .join(format!("adaptor_{}", i.version))
        );
    }

    // No version and `latest` both mean the latest tag.
    let latest = within(repo.install(&[spec("adaptor"), spec("adaptor@latest")]))
        .await
        .expect("install latest");
    assert_eq!(latest[0].version, "2.1.0");
    assert_eq!(latest[1].version, "2.1.0");

    let deps = &repo_json(&repo)["dependencies"];
    assert_eq!(deps["adaptor_1.0.0"], "npm:adaptor@1.0.0");
    assert_eq!(deps["adaptor_2.1.0"], "npm:adaptor@2.1.0");
    assert_eq!(repo_json(&repo)["name"], "openfn-repo");

    let listed: Vec<String> = repo
        .list()
        .expect("list")
        .iter()
        .map(|i| i.specifier())
        .collect();
    assert_eq!(
        listed,
        [
            "adaptor@1.0.0",
            "adaptor@1.2.0",
            "adaptor@1.3.0-beta.1",
            "adaptor@2.1.0"
        ]
    );

    // Resolution from disk: highest installed, ranges over installed versions, tags need the
    // registry.
    assert_eq!(
        repo.resolve(&spec("adaptor")).map(|i| i.version),
        Some("2.1.0".to_owned())
    );
    assert_eq!(
        repo.resolve(&spec("adaptor@^1")).map(|i| i.version),
        Some("1.2.0".to_owned())
    );
    assert_eq!(repo.resolve(&spec("adaptor@1.1.0")), None);
    assert_eq!(repo.resolve(&spec("adaptor@latest")), None);

    within(repo.clean()).await.expect("clean");
    assert!(repo.list().expect("list").is_empty());
    assert!(!dir.path().join("node_modules").exists());
}

#[tokio::test]
async fn installed_adaptor_resolves_without_requests() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("@openfn/language-x", "1.0.0").dep("lodash", "^4"));
    registry.publish(Pkg::new("lodash", "4.17.21"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    within(repo.install(&[spec("@openfn/language-x@1.0.0")]))
        .await
        .expect("install");
    let before = registry.requests();
    assert_eq!(
        before,
        4,
        "two packuments and two tarballs: {:?}",
        registry.log()
    );

    // A fresh Repo (as a new process would have) finds it on disk.
    let again = Repo::open(dir.path(), registry.config()).expect("open");
    let found = again
        .resolve(&spec("@openfn/language-x@1.0.0"))
        .expect("resolved");
    assert_eq!(
        found.path,
        dir.path().join("node_modules/@openfn/language-x_1.0.0")
    );
    let installed = within(again.install(&[spec("@openfn/language-x@1.0.0")]))
        .await
        .expect("install is a no-op");
    assert_eq!(installed[0], found);
    assert_eq!(
        registry.requests(),
        before,
        "no request for an installed exact version"
    );
    assert_eq!(again.registry_requests(), 0);
}

#[tokio::test]
async fn scoped_packages_and_hoisting() {
    let registry = FakeRegistry::start().await;
    registry.publish(
        Pkg::new("@openfn/language-http", "7.2.10")
            .dep("@openfn/language-common", "3.3.1")
            .dep("cheerio", "^1.0.0"),
    );
    registry.publish(Pkg::new("@openfn/language-common", "3.3.1").dep("lodash", "^4.17.0"));
    registry.publish(Pkg::new("@openfn/language-common", "3.3.4").dep("lodash", "^4.17.0"));
    registry.publish(
        Pkg::new("cheerio", "1.0.0")
            .dep("lodash", "^4.0.0")
            .dep("@scope/util", "~2.1"),
    );
    registry.publish(Pkg::new("lodash", "4.17.21"));
    registry.publish(Pkg::new("@scope/util", "2.1.3"));
    registry.publish(Pkg::new("@scope/util", "2.2.0"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[
        spec("@openfn/language-http@7.2.10"),
        spec("@openfn/language-common@3.3.4"),
    ]))
    .await
    .expect("install");
    let http = &installed[0].path;
    let modules = http.join("node_modules");
    // Everything hoisted to the adaptor's own node_modules, once.
    assert_eq!(
        version_at(&modules.join("@openfn/language-common")),
        "3.3.1"
    );
    assert_eq!(version_at(&modules.join("lodash")), "4.17.21");
    assert_eq!(version_at(&modules.join("@scope/util")), "2.1.3");
    assert!(!modules.join("cheerio/node_modules").exists());
    // The other adaptor version lives side by side, with its own tree.
    assert_eq!(version_at(&installed[1].path), "3.3.4");
    assert_eq!(
        version_at(&installed[1].path.join("node_modules/lodash")),
        "4.17.21"
    );
    // Node-style lookup from the adaptor finds its pinned common.
    let common = node_resolve(&http.join("dist"), "@openfn/language-common").expect("found");
    assert_eq!(version_at(&common), "3.3.1");
    // devDependencies are never installed.
    assert!(node_resolve(http, "never-installed").is_none());
}

#[tokio::test]
async fn nested_dependency_conflicts() {
    // root needs a@1 and b@1; a@1 needs c@1; b@1 needs c@2 and d@1; d@1 needs c@^1.
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("root", "1.0.0").dep("a", "1").dep("b", "1"));
    registry.publish(Pkg::new("a", "1.0.0").dep("c", "^1.0.0"));
    registry.publish(Pkg::new("b", "1.0.0").dep("c", "^2.0.0").dep("d", "1"));
    registry.publish(Pkg::new("d", "1.0.0").dep("c", "^1.0.0"));
    registry.publish(Pkg::new("c", "1.0.0"));
    registry.publish(Pkg::new("c", "1.5.0"));
    registry.publish(Pkg::new("c", "2.0.0"));
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[spec("root@1.0.0")]))
        .await
        .expect("install");
    let root = &installed[0].path;
    let modules = root.join("node_modules");
    assert_eq!(version_at(&modules.join("c")), "1.5.0", "c@1 hoisted");
    assert_eq!(
        version_at(&modules.join("b/node_modules/c")),
        "2.0.0",
        "c@2 nested under b"
    );
    assert_eq!(version_at(&modules.join("d")), "1.0.0", "d hoisted");
    // Every package finds what it asked for by Node's walk-up.
    for (from, dep, want) in [
        ("a", "c", "1.5.0"),
        ("b", "c", "2.0.0"),
        ("d", "c", "1.5.0"),
        ("b", "d", "1.0.0"),
    ] {
        let found = node_resolve(&modules.join(from), dep).expect("resolves");
        assert_eq!(version_at(&found), want, "{from} -> {dep}");
    }
}

#[tokio::test]
async fn placement_never_shadows_an_earlier_resolution() {
    // p@1 and q@1 are nested under b (root holds p@2, q@2). p@1 resolved c@^1 to the root's
    // c@1; q@1's c@2 must not go to b's node_modules (p would then see c@2): it goes under q.
    let registry = FakeRegistry::start().await;
    registry.publish(
        Pkg::new("root", "1.0.0")
            .dep("b", "1")
            .dep("c", "1")
            .dep("p", "2")
            .dep("q", "2"),
    );
    registry.publish(Pkg::new("b", "1.0.0").dep("p", "1").dep("q", "1"));
    registry.publish(Pkg::new("p", "1.0.0").dep("c", "^1"));
    registry.publish(Pkg::new("q", "1.0.0").dep("c", "^2"));
    for (name, version) in [
        ("p", "2.0.0"),
        ("q", "2.0.0"),
        ("c", "1.0.0"),
        ("c", "2.0.0"),
    ] {
        registry.publish(Pkg::new(name, version));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[spec("root@1.0.0")]))
        .await
        .expect("install");
    let b = installed[0].path.join("node_modules/b");
    assert_eq!(version_at(&b.join("node_modules/p")), "1.0.0");
    assert_eq!(
        version_at(&b.join("node_modules/q/node_modules/c")),
        "2.0.0"
    );
    assert!(!b.join("node_modules/c").exists());
    let c_from_p = node_resolve(&b.join("node_modules/p"), "c").expect("resolves");
    assert_eq!(version_at(&c_from_p), "1.0.0");
}

#[tokio::test]
async fn peers_installed_and_optional_failures_skipped() {
    let registry = FakeRegistry::start().await;
    registry.publish(
        Pkg::new("root", "1.0.0")
            .dep("plugin", "1")
            .optional("missing-optional", "1")
            .optional("broken-optional", "1")
            .optional("needs-missing", "1"),
    );
    // An optional package whose own required dependency does not exist: skipped with it.
    registry.publish(Pkg::new("needs-missing", "1.0.0").dep("does-not-exist", "1"));
    registry.publish(Pkg::new("plugin", "1.0.0").peer("host", "^3"));
    registry.publish(Pkg::new("host", "3.1.0"));
    registry.publish(Pkg::new("broken-optional", "1.0.0"));
    registry.corrupt_tarball("broken-optional", "1.0.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[spec("root@1.0.0")]))
        .await
        .expect("install succeeds without the optional packages");
    let root = &installed[0].path;
    let plugin = node_resolve(root, "plugin").expect("plugin");
    assert_eq!(
        version_at(&node_resolve(&plugin, "host").expect("peer")),
        "3.1.0"
    );
    assert!(node_resolve(root, "missing-optional").is_none());
    assert!(node_resolve(root, "broken-optional").is_none());
    assert!(node_resolve(root, "does-not-exist").is_none());
    assert!(node_resolve(root, "needs-missing").is_none());
}

#[tokio::test]
async fn stale_staging_from_a_crash_is_cleared() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("adaptor", "1.0.0"));
    let dir = tempfile::tempdir().expect("tempdir");
    let stale = dir.path().join(".staging/adaptor_1.0.0-4242-deadbeef");
    std::fs::create_dir_all(stale.join("node_modules")).expect("mkdir");
    // And a half-written alias dir not recorded in package.json.
    let half = dir.path().join("node_modules/adaptor_1.0.0");
    std::fs::create_dir_all(&half).expect("mkdir");
    std::fs::write(half.join("junk.js"), "partial").expect("write");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let installed = within(repo.install(&[spec("adaptor@1.0.0")]))
        .await
        .expect("install");
    assert!(!stale.exists());
    assert!(!installed[0].path.join("junk.js").exists());
    assert_eq!(version_at(&installed[0].path), "1.0.0");
}

#[tokio::test]
async fn npmrc_token_is_sent_to_its_registry() {
    let registry = FakeRegistry::start().await;
    registry.publish(Pkg::new("@acme/adaptor", "1.0.0").dep("dep", "1"));
    registry.publish(Pkg::new("dep", "1.0.0"));
    let host = registry.url.trim_start_matches("http:");
    let npmrc = format!(
        "registry={url}\n@acme:registry={url}\n{host}:_authToken=${{ACME_TOKEN}}\n",
        url = registry.url
    );
    let mut config = openfn_repo::RegistryConfig::from_sources(None, Some(&npmrc), |key| {
        (key == "ACME_TOKEN").then(|| "t0ken".to_owned())
    });
    config.retry = registry.config().retry;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), config).expect("open");
    within(repo.install(&[spec("@acme/adaptor@1.0.0")]))
        .await
        .expect("install");
    let seen = registry.authorizations();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|a| a == "Bearer t0ken"), "{seen:?}");
}

#[tokio::test]
async fn resolve_version_asks_the_registry_and_installs_nothing() {
    let registry = FakeRegistry::start().await;
    for v in ["1.0.0", "1.2.0", "2.0.0"] {
        registry.publish(Pkg::new("@openfn/language-collections", v));
    }
    registry.set_tag("@openfn/language-collections", "next", "1.2.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    for (text, expected) in [
        ("@openfn/language-collections@latest", "2.0.0"),
        ("@openfn/language-collections", "2.0.0"),
        ("@openfn/language-collections@next", "1.2.0"),
        ("@openfn/language-collections@^1", "1.2.0"),
        ("@openfn/language-collections@1.0.0", "1.0.0"),
    ] {
        let version = within(repo.resolve_version(&spec(text)))
            .await
            .expect("resolved");
        assert_eq!(version, expected, "{text}");
    }
    assert!(registry.tarball_requests().is_empty(), "nothing downloaded");
    assert!(!dir.path().join("node_modules").exists());
    let err = within(repo.resolve_version(&spec("@openfn/language-collections@9")))
        .await
        .expect_err("no such version");
    assert!(
        err.to_string().contains("@openfn/language-collections@9"),
        "{err}"
    );
}

/// What `latest` (or no version) resolved to is remembered in the repo for `TAG_TTL`: the next
/// install of the same tag, in this process or another, asks the registry nothing (the CLI's
/// `-a common` costs no network round trip per run). A zero TTL asks every time.
#[tokio::test]
async fn a_dist_tag_answer_is_reused_for_its_ttl() {
    let registry = FakeRegistry::start().await;
    for v in ["1.0.0", "2.0.0"] {
        registry.publish(Pkg::new("adaptor", v));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), registry.config()).expect("open");
    let first = within(repo.install(&[spec("adaptor")]))
        .await
        .expect("install");
    assert_eq!(first[0].version, "2.0.0");
    let asked = registry.requests();

    // another process: a new Repo on the same directory
    let again = Repo::open(dir.path(), registry.config()).expect("open");
    let second = within(again.install(&[spec("adaptor"), spec("adaptor@latest")]))
        .await
        .expect("install");
    assert_eq!(second[0].version, "2.0.0");
    assert_eq!(second[1].version, "2.0.0");
    assert_eq!(registry.requests(), asked, "{:#?}", registry.log());

    // the tag moves: within the TTL the remembered answer stands, with a zero TTL it does not
    registry.publish(Pkg::new("adaptor", "3.0.0"));
    let cached = within(again.install(&[spec("adaptor")]))
        .await
        .expect("install");
    assert_eq!(cached[0].version, "2.0.0");
    let fresh = Repo::open(dir.path(), registry.config())
        .expect("open")
        .with_tag_ttl(std::time::Duration::ZERO);
    let now = within(fresh.install(&[spec("adaptor")]))
        .await
        .expect("install");
    assert_eq!(now[0].version, "3.0.0");
    assert!(registry.requests() > asked);
}
