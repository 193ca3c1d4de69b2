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
