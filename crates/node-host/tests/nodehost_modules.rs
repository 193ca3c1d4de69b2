//! Module resolution and loading on a small synthetic node_modules tree: package exports
//! conditions, main, extension and index probing, nested node_modules, CommonJS (cycles,
//! JSON, require.resolve), ESM/CJS interop, dynamic import and the module-root policy.

mod common;

use std::path::Path;

use serde_json::json;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    // dual package: exports with import/require conditions
    write(
        r,
        "node_modules/dual/package.json",
        r#"{"name":"dual","exports":{".":{"import":"./esm.mjs","require":"./cjs.cjs"},"./sub":"./sub/index.js"}}"#,
    );
    write(
        r,
        "node_modules/dual/esm.mjs",
        "export const kind = 'esm'; export default 'dual-esm';",
    );
    write(r, "node_modules/dual/cjs.cjs", "exports.kind = 'cjs';");
    write(
        r,
        "node_modules/dual/sub/index.js",
        "module.exports = { sub: true };",
    );
    // CommonJS package with main, extension probing, JSON, a cycle and a nested dependency
    write(
        r,
        "node_modules/cjs-pkg/package.json",
        r#"{"name":"cjs-pkg","main":"lib/main"}"#,
    );
    write(
        r,
        "node_modules/cjs-pkg/lib/main.js",
        r#"
        const a = require('./a');
        const data = require('../data.json');
        const nested = require('dep');
        exports.fromA = a.value;
        exports.sawB = a.sawB;
        exports.data = data.x;
        exports.nested = nested.version;
        exports.resolved = require.resolve('./a').endsWith('/lib/a.js');
        exports.dirname = __dirname.endsWith('/cjs-pkg/lib');
        exports.thisIsExports = this === module.exports;
        exports['not-an-ident'] = 1;
    "#,
    );
    write(
        r,
        "node_modules/cjs-pkg/lib/a.js",
        "exports.partial = true; const b = require('./b'); exports.sawB = b.sawPartialA; exports.value = 'a';",
    );
    write(
        r,
        "node_modules/cjs-pkg/lib/b.js",
        "exports.sawPartialA = require('./a').partial === true;",
    );
    write(r, "node_modules/cjs-pkg/data.json", r#"{"x": 42}"#);
    write(
        r,
        "node_modules/cjs-pkg/node_modules/dep/package.json",
        r#"{"name":"dep","version":"2.0.0"}"#,
    );
    write(
        r,
        "node_modules/cjs-pkg/node_modules/dep/index.js",
        "exports.version = require('./package.json').version;",
    );
    write(
        r,
        "node_modules/dep/package.json",
        r#"{"name":"dep","version":"1.0.0"}"#,
    );
    write(
        r,
        "node_modules/dep/index.js",
        "exports.version = require('./package.json').version;",
    );
    // ESM package (type: module) importing CJS, a built-in and extensionless files
    write(
        r,
        "node_modules/esm-pkg/package.json",
        r#"{"name":"esm-pkg","type":"module","main":"index.js"}"#,
    );
    write(
        r,
        "node_modules/esm-pkg/index.js",
        r#"
        import cjs, { fromA } from 'cjs-pkg';
        import { kind } from 'dual';
        import helper from './helper';
        import { EventEmitter } from 'node:events';
        export const summary = { fromA, all: Object.keys(cjs).sort(), kind, helper, ee: typeof EventEmitter };
        export const later = () => import('dual/sub').then((m) => m.default);
        export const meta = import.meta.url;
    "#,
    );
    write(
        r,
        "node_modules/esm-pkg/helper.js",
        "export default 'helped';",
    );
    dir
}

#[tokio::test]
async fn node_resolution_and_interop() {
    let dir = tree();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let job = dir.path().join("job.mjs").to_string_lossy().into_owned();
    let v = r
        .run_at(
            &job,
            &r#"
            import { summary, later } from 'esm-pkg';
            import cjs from 'cjs-pkg';
            import dualDefault from 'dual';
            import { createRequire } from 'module';
            const require = createRequire(import.meta.url ?? 'JOBPATH');
            export default {
              summary,
              sub: await later(),
              cjs,
              dualDefault,
              requireDual: require('dual').kind,
              dynamicCjs: (await import('cjs-pkg')).default.data,
              metaUrl: /^file:\/\/\/.*\/node_modules\/esm-pkg\/index\.js$/.test((await import('esm-pkg')).meta),
            };
            "#
            .replace("JOBPATH", &job),
        )
        .await
        .unwrap();
    assert_eq!(
        v,
        json!({
          "summary": {"fromA": "a", "all": ["data", "dirname", "fromA", "nested", "not-an-ident", "resolved", "sawB", "thisIsExports"],
                      "kind": "esm", "helper": "helped", "ee": "function"},
          "sub": {"sub": true},
          "cjs": {"fromA": "a", "sawB": true, "data": 42, "nested": "2.0.0", "resolved": true,
                  "dirname": true, "thisIsExports": true, "not-an-ident": 1},
          "dualDefault": "dual-esm",
          "requireDual": "cjs",
          "dynamicCjs": 42,
          "metaUrl": true,
        })
    );
}

#[tokio::test]
async fn files_outside_the_module_roots_are_denied() {
    let dir = tree();
    let other = tempfile::tempdir().unwrap();
    write(other.path(), "secret.js", "module.exports = 'secret';");
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let job = dir.path().join("job.mjs").to_string_lossy().into_owned();
    let secret = other
        .path()
        .join("secret.js")
        .to_string_lossy()
        .into_owned();
    let src = r#"
        import { createRequire } from 'module';
        const require = createRequire('ROOT/x.js');
        const attempt = async (f) => { try { await f(); return 'loaded'; } catch (e) { return String(e.message || e); } };
        export default {
          viaRequire: await attempt(() => require('SECRET')),
          viaImport: await attempt(() => import('SECRET')),
          viaRelative: await attempt(() => require('../../../../../../../../etc/hostname')),
        };
    "#
    .replace("ROOT", &dir.path().to_string_lossy())
    .replace("SECRET", &secret);
    let v = r.run_at(&job, &src).await.unwrap();
    for key in ["viaRequire", "viaImport", "viaRelative"] {
        let msg = v[key].as_str().unwrap();
        assert_ne!(msg, "loaded", "{key}");
        assert!(!msg.contains("secret';"), "{key}: {msg}");
    }
}

/// Loader errors are no oracle on the host's file system: for a missing file, a file outside
/// the module roots, a symlink out of them and the process' own `/proc` files, `require` and
/// `import()` fail with the same error naming only the specifier as given.
#[tokio::test]
async fn loader_errors_name_only_the_specifier() {
    let dir = tree();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "target.js", "module.exports = 'secret';");
    std::os::unix::fs::symlink(
        outside.path().join("target.js"),
        dir.path().join("node_modules/escape.js"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("node_modules/outdir")).unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let job = dir.path().join("job.mjs").to_string_lossy().into_owned();
    let outside_file = outside
        .path()
        .join("target.js")
        .to_string_lossy()
        .into_owned();
    let specs = [
        "/proc/self/exe".to_owned(),
        "/proc/self/environ".to_owned(),
        "/proc/self/cwd/x".to_owned(),
        "/etc/passwd".to_owned(),
        "/no/such/file.js".to_owned(),
        outside_file.clone(),
        "./node_modules/escape.js".to_owned(),
        "outdir/target.js".to_owned(),
        "no-such-package".to_owned(),
        "../../../../../../../../etc/hostname".to_owned(),
    ];
    let src = r#"
        import { createRequire } from 'module';
        const require = createRequire('ROOT/x.js');
        const attempt = async (f) => { try { await f(); return 'loaded'; } catch (e) { return [e.message, e.code ?? null]; } };
        const out = [];
        for (const spec of SPECS) out.push([spec, await attempt(() => require(spec)), await attempt(() => import(spec))]);
        export default out;
    "#
    .replace("ROOT", &dir.path().to_string_lossy())
    .replace("SPECS", &serde_json::to_string(&specs).unwrap());
    let v = r.run_at(&job, &src).await.unwrap();
    let pid = std::process::id().to_string();
    let exe = std::env::current_exe()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let outside_dir = outside.path().to_string_lossy().into_owned();
    for entry in v.as_array().unwrap() {
        let spec = entry[0].as_str().unwrap();
        let expected =
            serde_json::json!([format!("Cannot find module '{spec}'"), "MODULE_NOT_FOUND"]);
        assert_eq!(entry[1], expected, "require({spec})");
        let imported = entry[2][0].as_str().unwrap_or_default();
        assert!(
            imported.contains(&format!("Cannot find module '{spec}'")),
            "import({spec}): {entry}"
        );
        let text = entry.to_string();
        for leak in [pid.as_str(), exe.as_str()] {
            assert!(!text.contains(leak), "{spec} leaks {leak}: {text}");
        }
        if spec != outside_file {
            assert!(
                !text.contains(&outside_dir),
                "{spec} leaks the target: {text}"
            );
        }
    }
}

#[tokio::test]
async fn missing_modules_fail_with_clear_errors() {
    let dir = tree();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let job = dir.path().join("job.mjs").to_string_lossy().into_owned();
    let err = r
        .run_at(&job, "import 'no-such-package'; export default 1;")
        .await
        .unwrap_err();
    assert!(err.contains("no-such-package"), "{err}");
    write(
        dir.path(),
        "node_modules/broken/package.json",
        r#"{"name":"broken","main":"index.js"}"#,
    );
    write(
        dir.path(),
        "node_modules/broken/index.js",
        "require('./missing');",
    );
    let err = r
        .run_at(&job, "import 'broken'; export default 1;")
        .await
        .unwrap_err();
    assert!(err.contains("Cannot find module './missing'"), "{err}");
    let v = r
        .run_at(
            &job,
            "let e; try { await import('broken'); } catch (x) { e = x.message; } export default e;",
        )
        .await
        .unwrap();
    assert!(
        v.as_str()
            .unwrap()
            .contains("Cannot find module './missing'"),
        "{v}"
    );
}
