//! Shared test helpers: a runtime with the node host installed, evaluation of test modules,
//! the real adaptors installed once per run with npm, and a log-collecting console sink.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openfn_node_host::{ConsoleLevel, ConsoleSink, HostOptions, HostPolicy, NodeHost};
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, Module, Promise};

/// Collects console output.
#[derive(Default)]
pub struct Logs(pub Mutex<Vec<(ConsoleLevel, String)>>);

impl ConsoleSink for Logs {
    fn log(&self, level: ConsoleLevel, message: &str) {
        self.0.lock().unwrap().push((level, message.to_owned()));
    }
}

impl Logs {
    pub fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
}

pub struct Realm {
    pub rt: AsyncRuntime,
    pub ctx: AsyncContext,
    pub host: NodeHost,
    pub logs: Arc<Logs>,
}

pub async fn realm(policy: HostPolicy, bytecode_dir: Option<PathBuf>) -> Realm {
    let logs = Arc::new(Logs::default());
    let host = NodeHost::with_options(
        policy,
        HostOptions {
            bytecode_dir,
            console: Some(logs.clone()),
            ..HostOptions::default()
        },
    );
    let rt = AsyncRuntime::new().unwrap();
    rt.set_loader(host.resolver(), host.loader()).await;
    let ctx = AsyncContext::full(&rt).await.unwrap();
    let h = host.clone();
    ctx.with(|ctx| h.install(&ctx).unwrap()).await;
    Realm {
        rt,
        ctx,
        host,
        logs,
    }
}

impl Realm {
    /// Evaluates `source` as an ES module named `name` (an absolute path makes relative and
    /// package imports resolve from there) and returns its default export as JSON.
    pub async fn run_at(&self, name: &str, source: &str) -> Result<serde_json::Value, String> {
        let name = name.to_owned();
        let source = source.to_owned();
        self.ctx
            .async_with(async |ctx| {
                let run = async {
                    let module = Module::declare(ctx.clone(), name, source)?;
                    let (module, promise) = module.eval()?;
                    promise.into_future::<()>().await?;
                    let value: rquickjs::Value<'_> = module.get("default")?;
                    let value = match value.as_promise() {
                        Some(p) => p.clone().into_future::<rquickjs::Value<'_>>().await?,
                        None => value,
                    };
                    let json = ctx
                        .json_stringify(value)?
                        .map(|s| s.to_string())
                        .transpose()?;
                    Ok::<_, rquickjs::Error>(json)
                };
                match run.await.catch(&ctx) {
                    Ok(Some(json)) => serde_json::from_str(&json).map_err(|e| e.to_string()),
                    Ok(None) => Ok(serde_json::Value::Null),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await
    }

    pub async fn run(&self, source: &str) -> Result<serde_json::Value, String> {
        self.run_at("test.mjs", source).await
    }
}

pub async fn eval(source: &str) -> serde_json::Value {
    let r = realm(HostPolicy::deny_all(), None).await;
    match r.run(source).await {
        Ok(v) => v,
        Err(e) => panic!("evaluation failed: {e}"),
    }
}

/// A promise helper so unused-import lints stay quiet in binaries that do not need it.
pub fn _promise_type(_: Option<Promise<'_>>) {}

#[path = "../../../../tests/adaptor_versions.rs"]
mod adaptor_versions;

/// The directory where `@openfn/language-common` and `@openfn/language-http` (the versions
/// pinned in tests/adaptor-versions) are installed with npm, once per build (cached under
/// CARGO_TARGET_TMPDIR, in a directory that names the versions).
pub fn adaptors_dir() -> PathBuf {
    // Tests of one binary run on threads of one process: install once per process under a
    // lock; separate processes (nextest) race through the staging-dir rename below.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let specs = [
        adaptor_versions::spec(adaptor_versions::COMMON),
        adaptor_versions::spec(adaptor_versions::HTTP),
    ];
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "nodehost-adaptors-{}-{}",
        adaptor_versions::version(adaptor_versions::COMMON),
        adaptor_versions::version(adaptor_versions::HTTP)
    ));
    let done = base.join("node_modules/@openfn/language-http/package.json");
    if done.exists() {
        return base;
    }
    adaptor_versions::npm_install(&base, &specs);
    assert!(done.exists());
    base
}

pub fn policy_for(dir: &Path) -> HostPolicy {
    HostPolicy::deny_all()
        .allow_modules_under(dir)
        .allow_host("127.0.0.1")
}
