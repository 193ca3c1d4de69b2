//! Install progress: on a terminal (stderr) a bar per adaptor, counting its packages and
//! bytes as they arrive (indicatif); elsewhere nothing moves, and the caller prints one line
//! per install from [`InstallView::finish`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use openfn_repo::{InstallProgress, ProgressFn};

/// One adaptor installed (fetched from the registry) during this command.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub packages: usize,
    pub bytes: u64,
    pub took: Duration,
}

struct Entry {
    bar: ProgressBar,
    version: String,
    packages: usize,
    bytes: u64,
}

/// The progress display of one command's installs.
pub struct InstallView {
    multi: MultiProgress,
    waiting: ProgressBar,
    entries: Mutex<BTreeMap<String, Entry>>,
    started: Instant,
}

impl InstallView {
    /// A display for installing `what`; draws only when stderr is a terminal.
    pub fn start(what: &str) -> Arc<InstallView> {
        let terminal = crate::out::is_terminal(crate::out::Stream::Stderr);
        let target = if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let waiting = multi.add(ProgressBar::new_spinner());
        waiting.set_message(format!("resolving {what}"));
        waiting.enable_steady_tick(Duration::from_millis(120));
        Arc::new(InstallView {
            multi,
            waiting,
            entries: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
        })
    }

    /// The observer to give the repo ([`openfn_repo::Repo::with_progress`]).
    pub fn observer(self: &Arc<Self>) -> ProgressFn {
        let view = Arc::clone(self);
        Arc::new(move |event: &InstallProgress| view.on(event))
    }

    fn on(&self, event: &InstallProgress) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            InstallProgress::Resolved {
                name,
                version,
                packages,
            } => {
                // a tree is known: its bar says more than the spinner
                self.waiting.finish_and_clear();
                let bar = self.multi.add(ProgressBar::new(*packages as u64));
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} {prefix} [{bar:24}] {pos}/{len} packages {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!("{name}@{version}"));
                bar.enable_steady_tick(Duration::from_millis(120));
                entries.insert(
                    name.clone(),
                    Entry {
                        bar,
                        version: version.clone(),
                        packages: *packages,
                        bytes: 0,
                    },
                );
            }
            InstallProgress::Fetched { name, bytes, .. } => {
                if let Some(entry) = entries.get_mut(name) {
                    entry.bytes += bytes;
                    entry.bar.inc(1);
                    entry.bar.set_message(HumanBytes(entry.bytes).to_string());
                }
            }
        }
    }

    /// Clears the display; returns what was installed (fetched), in name order, each with the
    /// time since the display started (installs run together).
    pub fn finish(&self) -> Vec<Installed> {
        self.waiting.finish_and_clear();
        let entries =
            std::mem::take(&mut *self.entries.lock().unwrap_or_else(PoisonError::into_inner));
        let _ = self.multi.clear();
        let took = self.started.elapsed();
        entries
            .into_iter()
            .map(|(name, e)| {
                e.bar.finish_and_clear();
                Installed {
                    name,
                    version: e.version,
                    packages: e.packages,
                    bytes: e.bytes,
                    took,
                }
            })
            .collect()
    }
}

/// The one line an install gets: `Installed @openfn/language-http@7.2.10 (37 packages, 2.1
/// MiB) in 1.2s`.
pub fn describe(installed: &Installed) -> String {
    format!(
        "Installed {}@{} ({} packages, {}) in {}",
        installed.name,
        installed.version,
        installed.packages,
        HumanBytes(installed.bytes),
        openfn_lexicon::log::print_duration(installed.took)
    )
}
