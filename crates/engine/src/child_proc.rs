//! One child process seen from the supervisor ([`ChildProc`]): spawned from the same binary
//! (a pooled child, reused between runs) or forked by a warm template (one run). Either way the
//! same framed channel, handshake, stderr tail (kept for diagnostics and out-of-memory
//! detection), kill and exit status.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use crate::config::ChildCommand;
use crate::error::Error;
use crate::ipc::{self, Frame, ToChild, ToParent};
use crate::template::{Forked, RunExit};

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
        /// Opened by the template right after the fork: signals reach this process and no
        /// other, even once the template has reaped it and the pid is reused.
        pidfd: Option<OwnedFd>,
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

    fn start_kill(&mut self) {
        match self {
            Process::Spawned(child) => {
                let _ = child.start_kill();
            }
            Process::Forked {
                pidfd: Some(fd), ..
            } => {
                let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
            }
            Process::Forked {
                pid,
                pidfd: None,
                exit,
            } => {
                // No pidfd (the kernel has none): only while the template has not reported it
                // reaped, so the pid is still ours.
                if *exit.borrow() == RunExit::Running
                    && let Some(pid) = rustix::process::Pid::from_raw(*pid as i32)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
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
    pub(crate) async fn spawn(
        command: &ChildCommand,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, Error> {
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

    /// A run process forked from a template (used for one run): wired and past its
    /// handshake.
    pub(crate) async fn forked(forked: Forked) -> Result<Self, Error> {
        let process = Process::Forked {
            pid: forked.pid,
            pidfd: forked.pidfd,
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

    pub(crate) fn is_alive(&mut self) -> bool {
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
    pub(crate) fn retire(mut self, grace: Duration) {
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
