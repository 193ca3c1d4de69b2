//! A template seen from the supervisor: the process, started from the same binary with the
//! template flag, and one task that owns its socket — it sends fork requests with each run's
//! pipe ends, matches the forked answers (pid and pidfd) to requests in order, and publishes
//! every forked run's wait status (the template reaps them) on that run's watch channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use openfn_lexicon::log::{Level, LogLine};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use super::fork::{ForkReply, ForkRequest, Forked, RunExit, fork_with, template_error};
use super::process::PREPARE_LOG_PREFIX;
use super::spare::Spare;
use super::wire::{self, FORK, QUIT, Reply, ReplyReader};
use crate::child_proc::ChildProc;
use crate::config::ChildCommand;
use crate::error::Error;

/// How long a template has to prepare its adaptor set.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(60);

/// One running template.
pub(crate) struct Template {
    pub pid: u32,
    pub key: String,
    pub(super) requests: mpsc::UnboundedSender<ForkRequest>,
    pub(super) spare: Arc<Spare>,
}

impl Drop for Template {
    /// The spare goes with its template: its stdin closes, so it exits and is reaped.
    fn drop(&mut self) {
        drop(self.spare.retire());
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("pid", &self.pid)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Logs a line of a template's stderr: what its adaptors logged while it loaded them as the
/// engine's own lines (at their level, warnings and errors as warnings), anything else at debug.
fn said(pid: u32, line: &str) {
    let Some(logged) = line
        .strip_prefix(PREPARE_LOG_PREFIX)
        .and_then(|json| serde_json::from_str::<LogLine>(json).ok())
    else {
        tracing::debug!(pid, "engine template stderr: {line}");
        return;
    };
    let text = logged
        .message
        .iter()
        .map(|part| match part {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let name = logged.name.as_str();
    match logged.level {
        Level::Debug => tracing::debug!(pid, name, "adaptor loading in a template: {text}"),
        Level::Warn | Level::Error => {
            tracing::warn!(pid, name, "adaptor loading in a template: {text}")
        }
        Level::Info | Level::Always | Level::Success => {
            tracing::info!(pid, name, "adaptor loading in a template: {text}")
        }
    }
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
                    said(pid, &line);
                }
            });
        }
        ours.set_nonblocking(true).map_err(Error::Io)?;
        let socket = UnixStream::from_std(ours).map_err(Error::Io)?;
        let (read, write) = socket.into_split();
        let mut replies = Replies {
            read,
            reader: ReplyReader::default(),
        };
        match tokio::time::timeout(PREPARE_TIMEOUT, replies.next()).await {
            Ok(Some((Reply::Ready(_), _))) => {}
            Ok(Some((Reply::PrepareFailed(e), _))) => return Err(template_error(e)),
            Ok(Some((other, _))) => {
                return Err(template_error(format!("unexpected first reply {other:?}")));
            }
            Ok(None) => {
                let status = process.wait().await.ok();
                return Err(template_error(format!("exited ({status:?}) before ready")));
            }
            Err(_) => return Err(template_error("not ready in time")),
        }
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(serve(process, replies, write, rx));
        tracing::debug!(pid, "engine template ready");
        let spare = Arc::new(Spare::default());
        spare.fill(&requests);
        Ok(Self {
            pid,
            key,
            requests,
            spare,
        })
    }

    /// Forks a run process from the template.
    pub async fn fork(&self) -> Result<Forked, Error> {
        fork_with(&self.requests).await
    }

    /// A process for one run: the spare if one is ready (then a new spare is forked), else a
    /// process forked now.
    pub async fn run_process(&self) -> Result<ChildProc, Error> {
        let spare = self.spare.take();
        self.spare.fill(&self.requests);
        match spare {
            Some(child) => Ok(child),
            None => ChildProc::forked(self.fork().await?).await,
        }
    }

    /// The pid of the spare run, if one is ready.
    pub fn spare_pid(&self) -> Option<u32> {
        self.spare.pid()
    }

    /// Whether the template still takes requests.
    pub fn is_alive(&self) -> bool {
        !self.requests.is_closed()
    }
}

/// The read half of a template's socket, with the reply lines and pidfds received so far.
struct Replies {
    read: OwnedReadHalf,
    reader: ReplyReader,
}

impl Replies {
    /// The next reply (with its pidfd); `None` once the template closed the socket.
    async fn next(&mut self) -> Option<(Reply, Option<OwnedFd>)> {
        loop {
            if let Some(reply) = self.reader.next_buffered() {
                return Some(reply);
            }
            if self.reader.at_end() {
                return None;
            }
            let stream: &UnixStream = self.read.as_ref();
            let reader = &mut self.reader;
            let filled = stream
                .async_io(tokio::io::Interest::READABLE, || reader.fill(stream))
                .await;
            if filled.is_err() {
                return None;
            }
        }
    }
}

/// The task that owns a template's socket: requests out, answers in. When the [`Template`] is
/// dropped it asks the template to quit, keeps reporting exits until the template closes the
/// socket, and reaps it.
async fn serve(
    mut process: Child,
    mut replies: Replies,
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
            reply = replies.next() => match reply {
                Some((Reply::Forked { pid, .. }, pidfd)) => {
                    let (tx, rx) = watch::channel(RunExit::Running);
                    exits.insert(pid, tx);
                    if let Some(reply) = waiting.pop_front() {
                        let _ = reply.send(Ok((pid, pidfd, rx)));
                    }
                }
                Some((Reply::ForkFailed(e), _)) => {
                    if let Some(reply) = waiting.pop_front() {
                        let _ = reply.send(Err(e));
                    }
                }
                Some((Reply::Exited { pid, status }, _)) => {
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
