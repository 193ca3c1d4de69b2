//! Benchmark: time to load the real `@openfn/language-common` into a fresh runtime, from
//! source and from the bytecode cache (median of repeated runs), plus one step call.
//!
//! `cargo run --release -p openfn-node-host --example bench_nodehost [ADAPTORS_DIR]`
//! Without ADAPTORS_DIR, language-common (the version pinned in tests/adaptor-versions) is
//! installed with npm into a temp dir once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openfn_node_host::{HostOptions, HostPolicy, NodeHost};
use rquickjs::{AsyncContext, AsyncRuntime};

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

fn adaptors_dir() -> PathBuf {
    if let Some(arg) = std::env::args().nth(1) {
        return PathBuf::from(arg);
    }
    let dir = std::env::temp_dir().join(format!(
        "openfn-nodehost-bench-{}",
        adaptor_versions::version(adaptor_versions::COMMON)
    ));
    if !dir
        .join("node_modules/@openfn/language-common/package.json")
        .exists()
    {
        adaptor_versions::npm_install(&dir, &[adaptor_versions::spec(adaptor_versions::COMMON)]);
    }
    dir
}

/// Runtime + context + host install + import of language-common; returns the elapsed time.
async fn load_once(dir: &Path, cache: Option<PathBuf>) -> Duration {
    let start = Instant::now();
    let host = NodeHost::with_options(
        HostPolicy::deny_all().allow_modules_under(dir),
        HostOptions {
            bytecode_dir: cache,
            ..HostOptions::default()
        },
    );
    let rt = AsyncRuntime::new().expect("runtime");
    rt.set_loader(host.resolver(), host.loader()).await;
    let ctx = AsyncContext::full(&rt).await.expect("context");
    let entry = dir.join("node_modules/@openfn/language-common");
    let h = host.clone();
    ctx.async_with(async |ctx| {
        h.install(&ctx).expect("install");
        let ns = openfn_node_host::load_adaptor(&h, &ctx, &entry)
            .await
            .expect("load language-common");
        assert!(ns.contains_key("fn").unwrap_or(false));
    })
    .await;
    start.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = adaptors_dir();
    let repeats = 15;
    let cache = std::env::temp_dir().join(format!(
        "openfn-nodehost-bench-cache-{}",
        std::process::id()
    ));

    let mut cold = Vec::new();
    for _ in 0..repeats {
        cold.push(load_once(&dir, None).await);
    }
    // Fill the cache once, then measure warm loads.
    openfn_node_host::clear_cache(&cache).expect("clear cache");
    let fill = load_once(&dir, Some(cache.clone())).await;
    let mut warm = Vec::new();
    for _ in 0..repeats {
        warm.push(load_once(&dir, Some(cache.clone())).await);
    }
    openfn_node_host::clear_cache(&cache).expect("clear cache");

    println!("language-common load, median of {repeats}:");
    println!(
        "  from source:          {:>8.1} ms",
        median(cold).as_secs_f64() * 1e3
    );
    println!(
        "  compile + fill cache: {:>8.1} ms (one run)",
        fill.as_secs_f64() * 1e3
    );
    println!(
        "  from bytecode cache:  {:>8.1} ms",
        median(warm).as_secs_f64() * 1e3
    );
}
