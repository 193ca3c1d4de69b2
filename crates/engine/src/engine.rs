//! The public face of the engine: [`Engine::new`], [`Engine::execute`] (one run, streamed as
//! [`EngineEvent`]s through a [`RunHandle`]) and [`Engine::destroy`].

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::config::{ChildCommand, EngineConfig, RunOptions, Sandbox, TemplateMode};
use crate::error::Error;
use crate::event::EngineEvent;
use crate::install::RepoInstaller;
use crate::plan::{self, ExecutionPlan};
use crate::pool::Pool;
use crate::resolve::{Input, Resolvers};
use crate::run::{self, RunSpec, Shared};
use crate::template::{TemplateInfo, TemplateSpec, Templates};

/// Runs workflows in a pool of child processes.
pub struct Engine {
    shared: Arc<Shared>,
    kill_all: watch::Sender<bool>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with `config`. Children are started lazily, on the first runs.
    pub fn new(mut config: EngineConfig) -> Result<Self, Error> {
        let mut command = match &config.child_command {
            Some(command) => command.clone(),
            None => ChildCommand::current_exe().map_err(Error::CurrentExe)?,
        };
        if config.sandbox == Sandbox::Wasm {
            command = wasm_command(&command)?;
            if config.templates.mode != TemplateMode::Off || !config.templates.prewarm.is_empty() {
                tracing::info!(
                    "engine: the wasm tier runs every run in a pooled child: warm templates and prewarm do not apply"
                );
            }
            config.templates.mode = TemplateMode::Off;
            config.templates.prewarm.clear();
        }
        let templates = Arc::new(Templates::new(
            config.templates.clone(),
            command.clone(),
            config.env.clone(),
        ));
        let pool = Pool::new(
            command,
            config.env.clone(),
            config.capacity,
            config.max_runs_per_child,
        );
        let installer = match &config.installer {
            Some(installer) => Arc::clone(installer),
            None => RepoInstaller::open(config.repo_dir.clone()).map_err(Error::Repo)?,
        };
        let (kill_all, kill_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            pool,
            installer,
            install_lock: tokio::sync::Mutex::new(()),
            templates,
            kill_all: kill_rx,
        });
        prewarm(&shared);
        Ok(Self { shared, kill_all })
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Starts a run of `plan` (must be called inside a tokio runtime). The plan's `id` names the
    /// run (a uuid is made up when it has none). Events arrive on the returned handle, ending
    /// with `workflow-complete` or `workflow-error`.
    pub fn execute(
        &self,
        plan: ExecutionPlan,
        input: Input,
        options: RunOptions,
        resolvers: Arc<dyn Resolvers>,
    ) -> RunHandle {
        let plan = plan.to_value();
        let workflow_id = plan::plan_id(&plan)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let (tx, rx) = mpsc::unbounded_channel();
        let spec = RunSpec {
            workflow_id: workflow_id.clone(),
            plan,
            input,
            options,
            resolvers,
        };
        tokio::spawn(run::drive(Arc::clone(&self.shared), spec, tx));
        RunHandle {
            workflow_id,
            events: rx,
        }
    }

    /// Stops the engine: no new runs start, idle children exit. With `instant`, busy children
    /// are killed too (their runs end with `ExecutionError`); otherwise they finish first.
    pub fn destroy(&self, instant: bool) {
        self.shared.pool.destroy(std::time::Duration::from_secs(5));
        self.shared.templates.close();
        if instant {
            let _ = self.kill_all.send(true);
        }
    }

    /// Child processes alive or starting (for monitoring and tests).
    pub fn live_children(&self) -> usize {
        self.shared.pool.live()
    }

    /// The warm templates, least recently used first (for monitoring, tests and benchmarks).
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.shared.templates.list()
    }

    /// Starts the template of `specifier` (`name@version`, installed first if needed) and waits
    /// until it is ready; false if templates are off or it could not start.
    pub async fn prewarm(&self, specifier: &str) -> bool {
        prewarm_one(&self.shared, specifier).await
    }

    /// Idle child processes (for monitoring and tests).
    pub fn idle_children(&self) -> usize {
        self.shared.pool.idle()
    }
}

/// The child command of the wasm tier: `command` in wasm child mode, given the guest module
/// and the artifact cache directory. The guest is found and loaded here once (never
/// instantiated: no job code runs in the supervisor), so a missing or broken one stops the
/// engine at start, and the compiled artifact is in the cache before the first child needs it
/// (compiling takes seconds; a cached load, milliseconds, within the child's handshake time).
#[cfg(feature = "wasm")]
fn wasm_command(command: &ChildCommand) -> Result<ChildCommand, Error> {
    let guest = openfn_sandbox_wasm::find_guest().map_err(|e| Error::Sandbox(e.to_string()))?;
    let cache = openfn_sandbox_wasm::cache::default_dir();
    let loaded = openfn_sandbox_wasm::WasmSandbox::load(&guest, &cache).map_err(|e| {
        Error::Sandbox(format!(
            "the wasm tier cannot load its guest {}: {e}",
            guest.display()
        ))
    })?;
    tracing::info!(
        guest = %guest.display(),
        from_cache = loaded.from_cache(),
        "engine: runs execute on the wasm tier"
    );
    Ok(command.wasm(&guest, &cache))
}

#[cfg(not(feature = "wasm"))]
fn wasm_command(_: &ChildCommand) -> Result<ChildCommand, Error> {
    Err(Error::Sandbox(
        "the wasm sandbox tier is not in this build: build with `--features wasm` (e.g. `cargo build -p openfn-ws-worker --features wasm`, or the Docker image with `--build-arg WASM=1`) and build its guest with crates/sandbox-wasm-guest/build.sh".to_owned(),
    ))
}

/// Starts the configured prewarm templates in the background (when inside a tokio runtime).
fn prewarm(shared: &Arc<Shared>) {
    if shared.config.templates.prewarm.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("engine: templates not prewarmed (no async runtime at start)");
        return;
    };
    let shared = Arc::clone(shared);
    runtime.spawn(async move {
        for specifier in shared.config.templates.prewarm.clone() {
            if !prewarm_one(&shared, &specifier).await {
                tracing::warn!("engine: no template for {specifier}");
            }
        }
    });
}

async fn prewarm_one(shared: &Arc<Shared>, specifier: &str) -> bool {
    let installed = {
        let _one_at_a_time = shared.install_lock.lock().await;
        shared.installer.install(specifier).await
    };
    let Ok(installed) = installed else {
        return false;
    };
    let spec = TemplateSpec {
        repo_dir: shared.config.repo_dir.to_string_lossy().into_owned(),
        adaptors: BTreeMap::from([(
            installed.name,
            installed.path.to_string_lossy().into_owned(),
        )]),
        whitelist: shared.config.whitelist.clone(),
    };
    shared.templates.prewarm(&spec).await.is_some()
}

/// The events of one run.
#[derive(Debug)]
pub struct RunHandle {
    workflow_id: String,
    events: mpsc::UnboundedReceiver<EngineEvent>,
}

impl RunHandle {
    /// The run's id (`workflowId`).
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// The next event; `None` after the terminal event.
    pub async fn next(&mut self) -> Option<EngineEvent> {
        self.events.recv().await
    }

    /// Collects every remaining event up to and including the terminal one.
    pub async fn collect(mut self) -> Vec<EngineEvent> {
        let mut all = Vec::new();
        while let Some(event) = self.events.recv().await {
            all.push(event);
        }
        all
    }

    /// The underlying receiver.
    pub fn into_receiver(self) -> mpsc::UnboundedReceiver<EngineEvent> {
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_parses_and_a_wasm_child_gets_its_own_flag() {
        assert_eq!("wasm".parse::<Sandbox>(), Ok(Sandbox::Wasm));
        assert_eq!("native".parse::<Sandbox>(), Ok(Sandbox::Native));
        assert!("docker".parse::<Sandbox>().is_err());
        let child = ChildCommand::binary("/bin/worker");
        let wasm = child.wasm(
            std::path::Path::new("/g.wasm"),
            std::path::Path::new("/cache"),
        );
        assert_eq!(
            wasm.args,
            [crate::config::WASM_CHILD_FLAG, "/g.wasm", "/cache"]
        );
    }

    /// Without the `wasm` feature the tier is refused when the engine starts, saying how to
    /// build it in.
    #[cfg(not(feature = "wasm"))]
    #[test]
    fn a_build_without_the_tier_refuses_it_at_start() {
        let config = EngineConfig {
            sandbox: Sandbox::Wasm,
            child_command: Some(ChildCommand::binary("/bin/true")),
            ..EngineConfig::default()
        };
        let error = Engine::new(config).map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("--features wasm"), "{error}");
    }
}
