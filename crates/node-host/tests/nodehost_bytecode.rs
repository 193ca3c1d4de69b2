//! The bytecode cache: a second realm loads language-common from cached bytecode with the same
//! results, and a corrupted cache file is ignored (recompiled), never handed to QuickJS.

mod common;

use serde_json::json;

const JOB: &str = r#"
    import { fn, execute, _, dateFns, util } from '@openfn/language-common';
    const s = await execute(fn((s) => ({ ...s, x: _.sum([1, 2, 3]) })))({ data: {} });
    export default { x: s.x, d: dateFns.format(new Date(2021, 4, 6), 'dd/MM/yyyy'), e: util.encode('hi') };
"#;

fn count_files(dir: &std::path::Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn cached_bytecode_gives_the_same_results() {
    let dir = common::adaptors_dir();
    let cache = tempfile::tempdir().unwrap();
    let expected = json!({"x": 6, "d": "06/05/2021", "e": "aGk="});
    let job = dir.join("job.mjs").to_string_lossy().into_owned();

    let first = common::realm(common::policy_for(&dir), Some(cache.path().to_path_buf())).await;
    assert_eq!(first.run_at(&job, JOB).await.unwrap(), expected);
    let files = count_files(cache.path());
    assert!(
        files > 100,
        "expected one cache file per module, found {files}"
    );

    let second = common::realm(common::policy_for(&dir), Some(cache.path().to_path_buf())).await;
    assert_eq!(second.run_at(&job, JOB).await.unwrap(), expected);
    assert_eq!(
        count_files(cache.path()),
        files,
        "a warm cache compiles nothing new"
    );

    // Corrupt every cached file: loading must still work, from source.
    for f in walk(cache.path()) {
        let mut bytes = std::fs::read(&f).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&f, bytes).unwrap();
    }
    let third = common::realm(common::policy_for(&dir), Some(cache.path().to_path_buf())).await;
    assert_eq!(third.run_at(&job, JOB).await.unwrap(), expected);
}
