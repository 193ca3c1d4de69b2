//! A template seen from the supervisor: the process, started from the same binary with the
//! template flag, and one task that owns its socket — it sends fork requests with each run's
//! pipe ends, matches `F <pid>` answers to requests in order, and publishes every forked run's
//! wait status (the template reaps them) on that run's watch channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};

use super::wire::{self, FORK, QUIT, Reply};
use crate::config::ChildCommand;
use crate::error::Error;

/// How long a template has to prepare its adaptor set.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(60);

/// The state of a forked run process as its template reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunExit {
    Running,
    /// Reaped by the template: the raw wait status.
    Exited(i32),
    /// The template went away before reporting (the run was reparented and reaped elsewhere).
    Lost,
}

/// A freshly forked run: its pid, exit status and the supervisor's ends of its pipes.
pub(crate) struct Forked {
    pub pid: u32,
    pub exit: watch::Receiver<RunExit>,
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

type ForkReply = oneshot::Sender<Result<(u32, watch::Receiver<RunExit>), String>>;

struct ForkRequest {
    pipes: [OwnedFd; 3],
    reply: ForkReply,
}

/// One running template.
pub(crate) struct Template {
    pub pid: u32,
    pub key: String,
    requests: mpsc::UnboundedSender<ForkRequest>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("pid", &self.pid)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

fn template_error(reason: impl Into<String>) -> Error {
    Error::Template(reason.into())
}

impl Template {
    /// Starts a template for `key` (the spec JSON) and waits until it has prepared its set.
    pub async fn start(
        command: &ChildCommand,
        env: &BTreeMap<String, String>,
        key: String,
    ) -> Result<Self, Error> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(Error::Io)?;
        let command = command.template(key.clone());
        let mut process = command.spawn(env, Stdio::from(OwnedFd::from(theirs)), Stdio::null())?;
        let pid = process.id().unwrap_or(0);
        if let Some(stderr) = process.stderr.take() {
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(pid, "engine template stderr: {line}");
                }
            });
        }
        ours.set_nonblocking(true).map_err(Error::Io)?;
        let socket = UnixStream::from_std(ours).map_err(Error::Io)?;
        let (read, write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let first = tokio::time::timeout(PREPARE_TIMEOUT, lines.next_line()).await;
        match first {
            Ok(Ok(Some(line))) => match Reply::parse(&line) {
                Some(Reply::Ready(_)) => {}
                Some(Reply::PrepareFailed(e)) => return Err(template_error(e)),
                _ => return Err(template_error(format!("unexpected first line {line:?}"))),
            },
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = process.wait().await.ok();
                return Err(template_error(format!("exited ({status:?}) before ready")));
            }
            Err(_) => return Err(template_error("not ready in time")),
        }
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(serve(process, lines, write, rx));
        tracing::debug!(pid, "engine template ready");
        Ok(Self { pid, key, requests })
    }

    /// Forks a run process from the template.
    pub async fn fork(&self) -> Result<Forked, Error> {
        let (stdin_r, stdin_w) = cloexec_pipe()?;
        let (stdout_r, stdout_w) = cloexec_pipe()?;
        let (stderr_r, stderr_w) = cloexec_pipe()?;
        let (reply, answer) = oneshot::channel();
        let request = ForkRequest {
            pipes: [stdin_r, stdout_w, stderr_w],
            reply,
        };
        if self.requests.send(request).is_err() {
            return Err(template_error("template gone"));
        }
        let (pid, exit) = answer
            .await
            .map_err(|_| template_error("template gone"))?
            .map_err(template_error)?;
        Ok(Forked {
            pid,
            exit,
            stdin: pipe::Sender::from_owned_fd(stdin_w).map_err(Error::Io)?,
            stdout: pipe::Receiver::from_owned_fd(stdout_r).map_err(Error::Io)?,
            stderr: pipe::Receiver::from_owned_fd(stderr_r).map_err(Error::Io)?,
        })
    }

    /// Whether the template still takes requests.
    pub fn is_alive(&self) -> bool {
        !self.requests.is_closed()
    }
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::Io(std::io::Error::from(e)))
}

/// The task that owns a template's socket: requests out, answers in. When the [`Template`] is
/// dropped it asks the template to quit, keeps reporting exits until the template closes the
/// socket, and reaps it.
async fn serve(
    mut process: Child,
    mut lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    write: tokio::net::unix::OwnedWriteHalf,
    mut requests: mpsc::UnboundedReceiver<ForkRequest>,
) {
    let mut waiting: VecDeque<ForkReply> = VecDeque::new();
    let mut exits: HashMap<u32, watch::Sender<RunExit>> = HashMap::new();
    let mut open = true;
    loop {
        tokio::select! {
            request = requests.recv(), if open => match request {
                Some(request) => match send(&write, FORK, &request.pipes).await {
                    // The pipe ends are closed here once sent: the run holds its own copies.
                    Ok(()) => waiting.push_back(request.reply),
                    Err(e) => {
                        let _ = request.reply.send(Err(e.to_string()));
                    }
                },
                None => {
                    open = false;
                    if send(&write, QUIT, &[]).await.is_err() {
                        break;
                    }
                }
            },
            line = lines.next_line() => match line.ok().flatten().as_deref().and_then(Reply::parse) {
                Some(Reply::Forked(pid)) => {
                    let (tx, rx) = watch::channel(RunExit::Running);
                    exits.insert(pid, tx);
                    if let Some(reply) = waiting.pop_front() {
                        let _ = reply.send(Ok((pid, rx)));
                    }
                }
                Some(Reply::ForkFailed(e)) => {
                    if let Some(reply) = waiting.pop_front() {
                        let _ = reply.send(Err(e));
                    }
                }
                Some(Reply::Exited { pid, status }) => {
                    if let Some(tx) = exits.remove(&pid) {
                        let _ = tx.send(RunExit::Exited(status));
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    for (_, tx) in exits {
        let _ = tx.send(RunExit::Lost);
    }
    for reply in waiting {
        let _ = reply.send(Err("template gone".into()));
    }
    drop(write);
    if tokio::time::timeout(Duration::from_secs(5), process.wait())
        .await
        .is_err()
    {
        let _ = process.start_kill();
        let _ = process.wait().await;
    }
    tracing::debug!("engine template retired");
}

async fn send(
    write: &tokio::net::unix::OwnedWriteHalf,
    byte: u8,
    fds: &[OwnedFd],
) -> std::io::Result<()> {
    let stream: &UnixStream = write.as_ref();
    stream
        .async_io(tokio::io::Interest::WRITABLE, || {
            wire::send_request(stream, byte, fds)
        })
        .await
}
