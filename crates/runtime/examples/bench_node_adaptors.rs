//! Benchmark of runs that load the real `@openfn/language-common` (pinned in tests/adaptor-versions) through the
//! node host:
//! the median wall time of a one-step run (`fn(s => s)`, already compiled) with a shared host,
//! without and with the bytecode cache. The adaptor is installed with openfn-repo into
//! `$OPENFN_BENCH_REPO` (default: `<tmp>/openfn-bench-repo`) on first use.
//!
//! `cargo run --release -p openfn-runtime --example bench_node_adaptors`

use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use openfn_compiler::{AdaptorImports, AddImports, Options, adaptor_exports, compile};
use openfn_repo::{RegistryConfig, Repo, Specifier};
use openfn_runtime::{
    ExecutionPlan, Input, ModuleInfo, NoCallbacks, NodeAdaptorHost, RunOptions, run,
};

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[path = "../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

fn main() -> anyhow::Result<()> {
    let dir = std::env::var_os("OPENFN_BENCH_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("openfn-bench-repo"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let repo = Repo::open(&dir, RegistryConfig::from_env())?;
    let spec = Specifier::new(
        adaptor_versions::COMMON,
        Some(adaptor_versions::version(adaptor_versions::COMMON)),
    );
    let common = match repo.resolve(&spec) {
        Some(i) => i,
        None => rt
            .block_on(repo.install(std::slice::from_ref(&spec)))?
            .remove(0),
    };
    let options = Options {
        imports: AddImports {
            ignore: Vec::new(),
            adaptors: vec![AdaptorImports {
                name: common.name.clone(),
                exports: Some(adaptor_exports(&common.path)),
                export_all: true,
            }],
        },
        ..Options::default()
    };
    let code = compile("fn(s => s);", &options)?.code;
    let plan: ExecutionPlan = serde_json::from_value(serde_json::json!({
        "workflow": {"steps": [{"id": "job", "expression": code}]}
    }))?;
    let _ = std::fs::remove_dir_all(dir.join("node_modules/.cache/openfn-bytecode"));
    for (label, cache, measure) in [
        ("no bytecode cache", false, false),
        ("bytecode cache", true, false),
        ("bytecode cache, heap measured after each step", true, true),
    ] {
        let host = NodeAdaptorHost::for_repo(&dir, &[], cache);
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let mut o = RunOptions::with_node_host(&dir, host.clone());
            o.measure_memory = measure;
            o.modules.insert(
                common.name.clone(),
                ModuleInfo {
                    path: Some(common.path.to_string_lossy().into_owned()),
                    version: Some(common.version.clone()),
                },
            );
            let t = Instant::now();
            rt.block_on(run(&plan, Input::Empty, o, Rc::new(NoCallbacks)))?;
            times.push(t.elapsed());
        }
        println!(
            "run with language-common ({label}): median {:.1} ms over {RUNS} runs (first {:.1} ms)",
            median(times.clone()).as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
