//! The template's channel to the supervisor: a Unix socket (the template's fd 0). The
//! supervisor sends one byte per request — `F` with the run's three pipe ends attached
//! (`SCM_RIGHTS`: stdin, stdout, stderr of the run), `Q` to stop forking — and the template
//! answers with lines: `R <pid>` ready, `E <text>` preparation failed, `F <pid>` forked,
//! `N <text>` fork failed, `X <pid> <wait status>` a forked run exited (reaped by the template).

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Request byte: fork a run with the attached pipe ends.
pub(crate) const FORK: u8 = b'F';
/// Request byte: stop forking; exit once every forked run has been reaped.
pub(crate) const QUIT: u8 = b'Q';

/// Sends one request byte with `fds` attached.
pub(crate) fn send_request(socket: impl AsFd, byte: u8, fds: &[OwnedFd]) -> io::Result<()> {
    let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !borrowed.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err(io::Error::other("too many descriptors for one request"));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(&[byte])],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent == 1 {
        Ok(())
    } else {
        Err(io::Error::other("request not sent"))
    }
}

/// Receives one request: `None` at end of stream, else the byte and its descriptors (close on
/// exec).
pub(crate) fn recv_request(socket: impl AsFd) -> io::Result<Option<(u8, Vec<OwnedFd>)>> {
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        match rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => break r,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if received.bytes == 0 {
        return Ok(None);
    }
    Ok(Some((byte[0], fds)))
}

/// A line from the template, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Ready(u32),
    PrepareFailed(String),
    Forked(u32),
    ForkFailed(String),
    Exited { pid: u32, status: i32 },
}

impl Reply {
    pub(crate) fn parse(line: &str) -> Option<Reply> {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "R" => rest.trim().parse().ok().map(Reply::Ready),
            "E" => Some(Reply::PrepareFailed(rest.to_owned())),
            "F" => rest.trim().parse().ok().map(Reply::Forked),
            "N" => Some(Reply::ForkFailed(rest.to_owned())),
            "X" => {
                let (pid, status) = rest.trim().split_once(' ')?;
                Some(Reply::Exited {
                    pid: pid.parse().ok()?,
                    status: status.parse().ok()?,
                })
            }
            _ => None,
        }
    }

    pub(crate) fn line(&self) -> String {
        let one_line = |s: &str| s.replace('\n', " ");
        match self {
            Reply::Ready(pid) => format!("R {pid}\n"),
            Reply::PrepareFailed(e) => format!("E {}\n", one_line(e)),
            Reply::Forked(pid) => format!("F {pid}\n"),
            Reply::ForkFailed(e) => format!("N {}\n", one_line(e)),
            Reply::Exited { pid, status } => format!("X {pid} {status}\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip_as_lines() {
        for reply in [
            Reply::Ready(7),
            Reply::PrepareFailed("no\nway".into()),
            Reply::Forked(9),
            Reply::ForkFailed("EAGAIN".into()),
            Reply::Exited { pid: 9, status: 9 },
        ] {
            let line = reply.line();
            let parsed = Reply::parse(line.trim_end_matches('\n')).unwrap();
            match (&reply, &parsed) {
                (Reply::PrepareFailed(_), Reply::PrepareFailed(t)) => assert_eq!(t, "no way"),
                _ => assert_eq!(parsed, reply),
            }
        }
        assert_eq!(Reply::parse("Z 1"), None);
    }

    #[test]
    fn descriptors_cross_a_socket_pair() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_request(&a, FORK, &[r, w]).unwrap();
        let (byte, fds) = recv_request(&b).unwrap().unwrap();
        assert_eq!((byte, fds.len()), (FORK, 2));
        drop(a);
        assert!(recv_request(&b).unwrap().is_none());
    }
}
