//! Forking a run through a template: the request the supervisor sends to a template's socket
//! task (three pipe ends and a reply channel) and what comes back (pid, pidfd, exit status, the
//! supervisor's pipe ends). Shared by the template handle and its spare.

use std::os::fd::OwnedFd;

use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::Error;

/// The state of a forked run process as its template reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunExit {
    Running,
    /// Reaped by the template: the raw wait status.
    Exited(i32),
    /// The template went away before reporting (the run was reparented and reaped elsewhere).
    Lost,
}

/// A freshly forked run: its pid (and pidfd, to signal it without a pid-reuse race), exit
/// status and the supervisor's ends of its pipes.
pub(crate) struct Forked {
    pub pid: u32,
    pub pidfd: Option<OwnedFd>,
    pub exit: watch::Receiver<RunExit>,
    pub stdin: pipe::Sender,
    pub stdout: pipe::Receiver,
    pub stderr: pipe::Receiver,
}

/// A forked run as the socket task hands it over: pid, pidfd, exit status.
type ForkAnswer = (u32, Option<OwnedFd>, watch::Receiver<RunExit>);
pub(super) type ForkReply = oneshot::Sender<Result<ForkAnswer, String>>;

pub(crate) struct ForkRequest {
    pub pipes: [OwnedFd; 3],
    pub reply: ForkReply,
}

/// Forks a run process through a template's request channel.
pub(super) async fn fork_with(
    requests: &mpsc::UnboundedSender<ForkRequest>,
) -> Result<Forked, Error> {
    let (stdin_r, stdin_w) = cloexec_pipe()?;
    let (stdout_r, stdout_w) = cloexec_pipe()?;
    let (stderr_r, stderr_w) = cloexec_pipe()?;
    let (reply, answer) = oneshot::channel();
    let request = ForkRequest {
        pipes: [stdin_r, stdout_w, stderr_w],
        reply,
    };
    if requests.send(request).is_err() {
        return Err(template_error("template gone"));
    }
    let (pid, pidfd, exit) = answer
        .await
        .map_err(|_| template_error("template gone"))?
        .map_err(template_error)?;
    Ok(Forked {
        pid,
        pidfd,
        exit,
        stdin: pipe::Sender::from_owned_fd(stdin_w).map_err(Error::Io)?,
        stdout: pipe::Receiver::from_owned_fd(stdout_r).map_err(Error::Io)?,
        stderr: pipe::Receiver::from_owned_fd(stderr_r).map_err(Error::Io)?,
    })
}

fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::Io(std::io::Error::from(e)))
}

pub(super) fn template_error(reason: impl Into<String>) -> Error {
    Error::Template(reason.into())
}
