//! The engine's templates: at most one per adaptor set (exact installed directories), the most
//! recently used kept within a count and a memory bound. A set's template is started once
//! (single flight); a template whose adaptor directory was reinstalled or removed since it
//! started is retired on its next use and started again. A set whose template failed to start
//! runs in pooled children for a minute before it is tried again.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::TemplateSpec;
use super::handle::Template;
use crate::config::{ChildCommand, TemplateConfig, TemplateMode};
use crate::sys;

/// How long a set whose template failed to start runs in pooled children before its template
/// is tried again.
const RETRY_FAILED: Duration = Duration::from_secs(60);

/// What identifies an installed adaptor directory: a reinstall (atomic rename) or removal
/// changes it.
type Stamp = Option<(u64, u64, i64)>;

fn stamp(dir: &str) -> Vec<Stamp> {
    [
        Path::new(dir).to_path_buf(),
        Path::new(dir).join("package.json"),
    ]
    .iter()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.mtime()))
    })
    .collect()
}

fn stamps(spec: &TemplateSpec) -> Vec<Vec<Stamp>> {
    spec.adaptors.values().map(|dir| stamp(dir)).collect()
}

struct Ready {
    template: Arc<Template>,
    spec: TemplateSpec,
    stamps: Vec<Vec<Stamp>>,
    rss: u64,
}

#[derive(Default)]
struct State {
    /// Least recently used first.
    ready: Vec<Ready>,
    building: HashMap<String, watch::Receiver<Option<Option<Arc<Template>>>>>,
    /// Sets whose template failed to start, and when: tried again after [`RETRY_FAILED`].
    failed: HashMap<String, Instant>,
    closed: bool,
}

/// A template as reported by [`crate::Engine::templates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateInfo {
    /// The template process.
    pub pid: u32,
    /// Adaptor name → installed directory.
    pub adaptors: BTreeMap<String, String>,
    /// Resident memory when it became ready, bytes.
    pub rss_bytes: u64,
    /// Its spare run (forked ahead, waiting for the next run of the set), if one is ready.
    pub spare_pid: Option<u32>,
}

/// Every template of an engine.
pub(crate) struct Templates {
    config: TemplateConfig,
    command: ChildCommand,
    env: BTreeMap<String, String>,
    state: Mutex<State>,
}

impl Templates {
    pub fn new(
        config: TemplateConfig,
        command: ChildCommand,
        env: BTreeMap<String, String>,
    ) -> Self {
        Self {
            config,
            command,
            env,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The template a run of `spec` should fork from, if any. A set without a template gets
    /// one started: awaited in [`TemplateMode::Always`], in the background otherwise.
    pub async fn for_run(self: &Arc<Self>, spec: &TemplateSpec) -> Option<Arc<Template>> {
        let wait = match self.config.mode {
            TemplateMode::Off => return None,
            TemplateMode::Background => false,
            TemplateMode::Always => true,
        };
        self.get(spec, wait).await
    }

    /// Starts the template of `spec` (if it has none) and waits for it.
    pub async fn prewarm(self: &Arc<Self>, spec: &TemplateSpec) -> Option<Arc<Template>> {
        if self.config.mode == TemplateMode::Off {
            return None;
        }
        self.get(spec, true).await
    }

    async fn get(self: &Arc<Self>, spec: &TemplateSpec, wait: bool) -> Option<Arc<Template>> {
        let key = spec.to_json();
        let mut building = {
            let mut st = self.lock();
            if st.closed {
                return None;
            }
            if let Some(i) = st.ready.iter().position(|r| r.spec == *spec) {
                let ready = st.ready.remove(i);
                if ready.template.is_alive() && ready.stamps == stamps(spec) {
                    let template = Arc::clone(&ready.template);
                    st.ready.push(ready);
                    return Some(template);
                }
                tracing::debug!(pid = ready.template.pid, "engine template stale: retired");
            }
            if st
                .failed
                .get(&key)
                .is_some_and(|at| at.elapsed() < RETRY_FAILED)
            {
                return None;
            }
            match st.building.get(&key) {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    st.building.insert(key.clone(), rx.clone());
                    let set = Arc::clone(self);
                    let spec = spec.clone();
                    tokio::spawn(async move { set.build(spec, key, tx).await });
                    rx
                }
            }
        };
        if !wait {
            return None;
        }
        building
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|done| done.clone())
            .flatten()
    }

    async fn build(
        &self,
        spec: TemplateSpec,
        key: String,
        done: watch::Sender<Option<Option<Arc<Template>>>>,
    ) {
        let before = stamps(&spec);
        let started = Template::start(&self.command, &self.env, key.clone()).await;
        let mut st = self.lock();
        st.building.remove(&key);
        let template = match started {
            Ok(template) if !st.closed => {
                let template = Arc::new(template);
                let rss = sys::rss_bytes(Some(template.pid)).unwrap_or(0);
                tracing::debug!(pid = template.pid, rss, "engine template added");
                st.ready.push(Ready {
                    template: Arc::clone(&template),
                    spec,
                    stamps: before,
                    rss,
                });
                self.evict(&mut st);
                Some(template)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("engine template for {key} failed: {e}");
                st.failed.insert(key, Instant::now());
                None
            }
        };
        let _ = done.send(Some(template));
    }

    /// Retires the least recently used templates past the count and memory bounds (the newest
    /// is always kept).
    fn evict(&self, st: &mut State) {
        let max_bytes = self.config.max_memory_mb.saturating_mul(1 << 20);
        loop {
            let total: u64 = st.ready.iter().map(|r| r.rss).sum();
            let over = st.ready.len() > self.config.max_templates.max(1) || total > max_bytes;
            if !over || st.ready.len() <= 1 {
                return;
            }
            let old = st.ready.remove(0);
            tracing::debug!(pid = old.template.pid, "engine template evicted");
        }
    }

    /// The ready templates, least recently used first.
    pub fn list(&self) -> Vec<TemplateInfo> {
        self.lock()
            .ready
            .iter()
            .map(|r| TemplateInfo {
                pid: r.template.pid,
                adaptors: r.spec.adaptors.clone(),
                rss_bytes: r.rss,
                spare_pid: r.template.spare_pid(),
            })
            .collect()
    }

    /// Retires every template; no new ones start.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.ready.clear();
    }
}
