//! The supervisor's pool of child processes: at most `capacity` children, spawned lazily from
//! the same binary, reused between runs (one run at a time each), replaced after a crash or
//! after `max_runs_per_child` runs. When every child is busy, runs wait in FIFO order. A run
//! with a warm template takes a slot the same way but gets a process forked from the template,
//! used once.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::ChildCommand;
use crate::error::Error;
use crate::ipc::{self, Frame, ToChild, ToParent};
use crate::template::{RunExit, Template};

/// How long a new child has to say it is ready.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How many stderr lines of a child are kept for diagnostics.
const STDERR_LINES: usize = 64;

/// What a child said on stderr recently, and whether it looked like running out of memory.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    pub lines: VecDeque<String>,
    pub out_of_memory: bool,
    /// The child's stderr reached its end (the process is gone).
    pub closed: bool,
}

/// Lines a process prints when an allocation fails (Rust's alloc error handler, QuickJS).
fn is_oom_line(line: &str) -> bool {
    line.contains("memory allocation of")
        || line.contains("out of memory")
        || line.contains("Cannot allocate memory")
}

/// One child process seen from the supervisor.
pub(crate) struct ChildProc {
    pub pid: u32,
    pub versions: BTreeMap<String, String>,
    pub frames: mpsc::UnboundedReceiver<Frame>,
    pub stderr: Arc<Mutex<StderrTail>>,
    stderr_closed: Arc<tokio::sync::Notify>,
    pub runs: u32,
    pub next_run: u64,
    /// Forked from a template: one run, then the process exits.
    pub single_use: bool,
    writer: mpsc::UnboundedSender<Vec<u8>>,
    process: Process,
}

/// The OS process behind a [`ChildProc`]: spawned by the supervisor, or forked by a template
/// (which reaps it and reports its wait status).
enum Process {
    Spawned(Child),
    Forked {
        pid: u32,
        exit: watch::Receiver<RunExit>,
    },
}

impl Process {
    fn is_alive(&mut self) -> bool {
        match self {
            Process::Spawned(child) => matches!(child.try_wait(), Ok(None)),
            Process::Forked { exit, .. } => *exit.borrow() == RunExit::Running,
        }
    }

    #[allow(
        unsafe_code,
        reason = "kill(2) of a forked run that has not been reaped"
    )]
    fn start_kill(&mut self) {
        match self {
            Process::Spawned(child) => {
                let _ = child.start_kill();
            }
            Process::Forked { pid, exit } => {
                // Only while the template has not reported it reaped: the pid is still ours.
                if *exit.borrow() == RunExit::Running {
                    // SAFETY: kill(2) with a pid and a signal number has no memory effects.
                    unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
                }
            }
        }
    }

    async fn wait(&mut self) -> Option<ExitStatus> {
        match self {
            Process::Spawned(child) => child.wait().await.ok(),
            Process::Forked { exit, .. } => {
                let done = exit.wait_for(|e| *e != RunExit::Running).await.ok()?;
                match *done {
                    RunExit::Exited(raw) => Some(ExitStatus::from_raw(raw)),
                    RunExit::Running | RunExit::Lost => None,
                }
            }
        }
    }
}

impl ChildProc {
    async fn spawn(command: &ChildCommand, env: &BTreeMap<String, String>) -> Result<Self, Error> {
        let mut process = command.spawn(env, Stdio::piped(), Stdio::piped())?;
        let pid = process.id().unwrap_or(0);
        let (Some(stdin), Some(stdout), Some(stderr)) = (
            process.stdin.take(),
            process.stdout.take(),
            process.stderr.take(),
        ) else {
            return Err(Error::Handshake {
                pid,
                reason: "missing stdio pipes".into(),
            });
        };
        Self::connect(pid, Process::Spawned(process), stdin, stdout, stderr).await
    }

    /// A run process forked from `template` (used for one run).
    async fn fork(template: &Template) -> Result<Self, Error> {
        let forked = template.fork().await?;
        let process = Process::Forked {
            pid: forked.pid,
            exit: forked.exit,
        };
        let mut child = Self::connect(
            forked.pid,
            process,
            forked.stdin,
            forked.stdout,
            forked.stderr,
        )
        .await?;
        child.single_use = true;
        Ok(child)
    }

    /// Wires a started process's pipes (writer, frame reader, stderr tail) and waits for its
    /// handshake.
    async fn connect(
        pid: u32,
        mut process: Process,
        stdin: impl AsyncWrite + Unpin + Send + 'static,
        stdout: impl AsyncRead + Unpin + Send + 'static,
        stderr: impl AsyncRead + Unpin + Send + 'static,
    ) -> Result<Self, Error> {
        let (writer, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(buf) = outgoing.recv().await {
                if stdin.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });

        let (frames_tx, mut frames) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stdout = BufReader::with_capacity(64 * 1024, stdout);
            while let Ok(Some(frame)) = ipc::read_frame(&mut stdout).await {
                if frames_tx.send(frame).is_err() {
                    break;
                }
            }
        });

        let tail = Arc::new(Mutex::new(StderrTail::default()));
        let tail_writer = Arc::clone(&tail);
        let stderr_closed = Arc::new(tokio::sync::Notify::new());
        let closed_tx = Arc::clone(&stderr_closed);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(pid, "engine child stderr: {line}");
                if let Ok(mut tail) = tail_writer.lock() {
                    tail.out_of_memory |= is_oom_line(&line);
                    if tail.lines.len() == STDERR_LINES {
                        tail.lines.pop_front();
                    }
                    tail.lines.push_back(line);
                }
            }
            if let Ok(mut tail) = tail_writer.lock() {
                tail.closed = true;
            }
            closed_tx.notify_one();
        });

        let ready = tokio::time::timeout(HANDSHAKE_TIMEOUT, frames.recv()).await;
        let versions = match ready {
            Ok(Some(frame)) => match frame.message::<ToParent>() {
                Ok(ToParent::Ready { versions, .. }) => versions,
                Ok(other) => {
                    return Err(Error::Handshake {
                        pid,
                        reason: format!("unexpected first message {other:?}"),
                    });
                }
                Err(e) => {
                    return Err(Error::Handshake {
                        pid,
                        reason: e.to_string(),
                    });
                }
            },
            Ok(None) => {
                let status = process.wait().await;
                let said = tail
                    .lock()
                    .map(|t| t.lines.iter().cloned().collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default();
                return Err(Error::Handshake {
                    pid,
                    reason: format!("exited ({status:?}) before the handshake: {said}"),
                });
            }
            Err(_) => {
                return Err(Error::Handshake {
                    pid,
                    reason: "no handshake in time".into(),
                });
            }
        };
        tracing::debug!(pid, "engine child started");
        Ok(Self {
            pid,
            versions,
            frames,
            stderr: tail,
            stderr_closed,
            runs: 0,
            next_run: 1,
            single_use: false,
            writer,
            process,
        })
    }

    /// Sends a message; false if the child's stdin is gone.
    pub fn send(&self, message: &ToChild, body: &[u8]) -> bool {
        match ipc::encode(message, body) {
            Ok(frame) => self.writer.send(frame).is_ok(),
            Err(_) => false,
        }
    }

    /// A handle to send raw frames from another task.
    pub fn writer(&self) -> mpsc::UnboundedSender<Vec<u8>> {
        self.writer.clone()
    }

    fn is_alive(&mut self) -> bool {
        self.process.is_alive()
    }

    /// SIGKILLs the child now (it is reaped later).
    pub fn kill_now(&mut self) {
        self.process.start_kill();
    }

    /// Waits (bounded) for the child to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.process.wait())
            .await
            .ok()
            .flatten()
    }

    /// Whether the child's last words (stderr, read to its end within `within`) say it ran out
    /// of memory.
    pub async fn said_out_of_memory(&self, within: Duration) -> bool {
        let closed = self.stderr.lock().map(|t| t.closed).unwrap_or(true);
        if !closed {
            let _ = tokio::time::timeout(within, self.stderr_closed.notified()).await;
        }
        self.stderr.lock().map(|t| t.out_of_memory).unwrap_or(false)
    }

    /// Closes the channel (the child exits on end of input) and kills it after `grace`.
    fn retire(mut self, grace: Duration) {
        drop(self.writer);
        tokio::spawn(async move {
            if tokio::time::timeout(grace, self.process.wait())
                .await
                .is_err()
            {
                self.process.start_kill();
                let _ = self.process.wait().await;
            }
        });
    }
}

/// The exit code reported for a child: its code, or 128 + the signal that killed it.
pub(crate) fn exit_code(status: Option<ExitStatus>) -> i32 {
    match status {
        Some(s) => s
            .code()
            .or_else(|| s.signal().map(|sig| 128 + sig))
            .unwrap_or(-1),
        None => -1,
    }
}

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
            Some(template) => ChildProc::fork(template).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_allocation_failures() {
        assert!(is_oom_line("memory allocation of 1048576 bytes failed"));
        assert!(!is_oom_line("hello"));
        assert_eq!(exit_code(Some(ExitStatus::from_raw(9))), 137);
        assert_eq!(exit_code(Some(ExitStatus::from_raw(3 << 8))), 3);
    }
}
