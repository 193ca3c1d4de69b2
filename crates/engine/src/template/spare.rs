//! The spare run of a template: one process forked ahead of time, past its handshake and
//! blocked on its pipe until a run is handed to it, so that the fork is off the claim path. It
//! is replaced as soon as it is handed out and retired with its template (dropping it closes
//! its stdin: it exits at once and its template reaps it). Limits are applied to it exactly as
//! to any forked run: `oom_score_adj` when it starts, `RLIMIT_AS` and the watchdog when its run
//! arrives.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;

use super::fork::{ForkRequest, fork_with};
use crate::child_proc::ChildProc;

#[derive(Default)]
struct State {
    ready: Option<ChildProc>,
    filling: bool,
    retired: bool,
}

/// A template's spare slot (shared with the task that fills it).
#[derive(Default)]
pub(crate) struct Spare {
    state: Mutex<State>,
}

impl Spare {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The spare's pid, if one is ready.
    pub fn pid(&self) -> Option<u32> {
        self.lock().ready.as_ref().map(|c| c.pid)
    }

    /// Takes the ready spare if it is still alive (a dead one is dropped).
    pub fn take(&self) -> Option<ChildProc> {
        let mut child = self.lock().ready.take()?;
        child.is_alive().then_some(child)
    }

    /// Starts forking a new spare unless one is ready or on its way, or the slot is retired.
    pub fn fill(self: &Arc<Self>, requests: &mpsc::UnboundedSender<ForkRequest>) {
        {
            let mut st = self.lock();
            if st.retired || st.filling || st.ready.is_some() {
                return;
            }
            st.filling = true;
        }
        let slot = Arc::clone(self);
        let requests = requests.clone();
        tokio::spawn(async move {
            let forked = match fork_with(&requests).await {
                Ok(forked) => ChildProc::forked(forked).await,
                Err(e) => Err(e),
            };
            drop(requests);
            let mut st = slot.lock();
            st.filling = false;
            match forked {
                Ok(child) if !st.retired && st.ready.is_none() => {
                    tracing::debug!(pid = child.pid, "engine template spare ready");
                    st.ready = Some(child);
                }
                Ok(child) => {
                    drop(st);
                    child.retire(Duration::from_secs(5));
                }
                Err(e) => tracing::debug!("engine template spare not forked: {e}"),
            }
        });
    }

    /// No more spares: the ready one (if any) is dropped, and so exits.
    pub fn retire(&self) -> Option<ChildProc> {
        let mut st = self.lock();
        st.retired = true;
        st.ready.take()
    }
}
