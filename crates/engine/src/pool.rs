//! The supervisor's pool of child processes: at most `capacity` children, spawned lazily from
//! the same binary, reused between runs (one run at a time each), replaced after a crash or
//! after `max_runs_per_child` runs. When every child is busy, runs wait in FIFO order. A run
//! with a warm template takes a slot the same way but gets a process forked from the template,
//! used once.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

pub(crate) use crate::child_proc::{ChildProc, exit_code};
use crate::config::ChildCommand;
use crate::error::Error;
use crate::template::Template;

enum Grant {
    Child(ChildProc),
    Spawn,
}

struct PoolState {
    idle: Vec<ChildProc>,
    live: usize,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    destroyed: bool,
}

/// The pool (shared by every run of an engine).
pub(crate) struct Pool {
    command: ChildCommand,
    env: BTreeMap<String, String>,
    capacity: usize,
    max_runs: u32,
    state: Mutex<PoolState>,
}

impl Pool {
    pub fn new(
        command: ChildCommand,
        env: BTreeMap<String, String>,
        capacity: usize,
        max_runs: u32,
    ) -> Self {
        Self {
            command,
            env,
            capacity: capacity.max(1),
            max_runs,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                live: 0,
                waiters: VecDeque::new(),
                destroyed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number of child processes alive or being started.
    pub fn live(&self) -> usize {
        self.lock().live
    }

    /// Number of idle children.
    pub fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Takes an idle child, starts one if below capacity, or waits (FIFO) for one. Once the
    /// slot is granted, `template` says whether the run forks from a warm template instead: then
    /// it gets a process forked from it in the same slot (an idle pooled child gives its slot
    /// up). The template is awaited after the grant, so runs keep their FIFO order.
    pub async fn acquire(
        &self,
        template: impl Future<Output = Option<Arc<Template>>>,
    ) -> Result<ChildProc, Error> {
        let waiting = {
            let mut st = self.lock();
            if st.destroyed {
                return Err(Error::Destroyed);
            }
            let mut found = None;
            while let Some(mut child) = st.idle.pop() {
                if child.is_alive() {
                    found = Some(child);
                    break;
                }
                st.live -= 1;
                child.retire(Duration::ZERO);
            }
            match found {
                Some(child) => Ok(Grant::Child(child)),
                None if st.live < self.capacity => {
                    st.live += 1;
                    Ok(Grant::Spawn)
                }
                None => {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_back(tx);
                    Err(rx)
                }
            }
        };
        let grant = match waiting {
            Ok(grant) => grant,
            Err(rx) => rx.await.map_err(|_| Error::Destroyed)?,
        };
        let template = template.await;
        match (grant, template) {
            (Grant::Child(child), None) => Ok(child),
            (Grant::Child(child), Some(template)) => {
                child.retire(Duration::from_secs(5));
                self.start(Some(&template)).await
            }
            (Grant::Spawn, template) => self.start(template.as_deref()).await,
        }
    }

    /// Starts a process in a slot already counted as live.
    async fn start(&self, template: Option<&Template>) -> Result<ChildProc, Error> {
        let started = match template {
            Some(template) => template.run_process().await,
            None => ChildProc::spawn(&self.command, &self.env).await,
        };
        started.inspect_err(|_| {
            let mut st = self.lock();
            st.live -= 1;
            self.grant_spawn(&mut st);
        })
    }

    /// Gives a child back after a run: reused if `reusable` and not worn out, else replaced.
    pub fn release(&self, mut child: ChildProc, reusable: bool) {
        child.runs += 1;
        let mut st = self.lock();
        let worn_out = child.single_use || (self.max_runs > 0 && child.runs >= self.max_runs);
        if reusable && !worn_out && !st.destroyed {
            let mut child = child;
            while let Some(waiter) = st.waiters.pop_front() {
                match waiter.send(Grant::Child(child)) {
                    Ok(()) => return,
                    Err(Grant::Child(back)) => child = back,
                    Err(Grant::Spawn) => return,
                }
            }
            st.idle.push(child);
        } else {
            tracing::debug!(pid = child.pid, reusable, worn_out, "engine child retired");
            st.live -= 1;
            if reusable {
                child.retire(Duration::from_secs(5));
            } else {
                child.kill_now();
                child.retire(Duration::ZERO);
            }
            if !st.destroyed {
                self.grant_spawn(&mut st);
            }
        }
    }

    fn grant_spawn(&self, st: &mut PoolState) {
        while st.live < self.capacity {
            let Some(waiter) = st.waiters.pop_front() else {
                return;
            };
            st.live += 1;
            if waiter.send(Grant::Spawn).is_ok() {
                return;
            }
            st.live -= 1;
        }
    }

    /// Stops handing out children; idle ones exit (killed after `grace`).
    pub fn destroy(&self, grace: Duration) {
        let mut st = self.lock();
        st.destroyed = true;
        st.waiters.clear();
        let idle: Vec<ChildProc> = st.idle.drain(..).collect();
        st.live -= idle.len();
        for child in idle {
            child.retire(grace);
        }
    }
}
