//! Installs the real `@openfn/language-common` and `@openfn/language-http@7.2.10` from the
//! configured npm registry (`NPM_CONFIG_REGISTRY`, `~/.npmrc`, else registry.npmjs.org) and
//! checks that every package of both trees finds its dependencies by Node's walk-up.

mod support;

use std::time::Duration;

use openfn_repo::{RegistryConfig, Repo, Specifier};
use support::{check_repo, check_tree, node_resolve, version_at};

#[tokio::test]
async fn installs_real_adaptors_from_npm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = Repo::open(dir.path(), RegistryConfig::from_env()).expect("open");
    let specs = [
        Specifier::parse("@openfn/language-common").expect("spec"),
        Specifier::parse("@openfn/language-http@7.2.10").expect("spec"),
    ];
    let installed = tokio::time::timeout(Duration::from_secs(300), repo.install(&specs))
        .await
        .expect("install within 5 minutes")
        .expect("install");
    assert_eq!(installed[0].name, "@openfn/language-common");
    assert_eq!(installed[1].version, "7.2.10");
    assert_eq!(
        installed[1].path,
        dir.path().join("node_modules/@openfn/language-http_7.2.10")
    );

    let http = &installed[1].path;
    let packages = check_tree(http);
    assert!(packages >= 30, "only {packages} packages in the http tree");
    check_tree(&installed[0].path);
    assert_eq!(check_repo(dir.path()), 2);

    // http pins common 3.3.1, found from its dist folder.
    let common = node_resolve(&http.join("dist"), "@openfn/language-common").expect("common");
    assert_eq!(version_at(&common), "3.3.1");
    for dep in [
        "undici",
        "lodash",
        "cheerio",
        "date-fns",
        "jsonpath-plus",
        "csv-parse",
        "ajv",
    ] {
        assert!(
            node_resolve(&common, dep).is_some(),
            "{dep} not reachable from common"
        );
    }
    assert!(http.join("dist/index.js").is_file());

    // Warm: resolved from disk by a fresh repo value, no request.
    let again = Repo::open(dir.path(), RegistryConfig::from_env()).expect("open");
    let found = again.resolve(&specs[1]).expect("resolved from disk");
    assert_eq!(&found, &installed[1]);
    assert_eq!(
        again.resolve(&Specifier::parse("@openfn/language-common").expect("spec")),
        Some(installed[0].clone())
    );
    assert_eq!(again.registry_requests(), 0);
}
