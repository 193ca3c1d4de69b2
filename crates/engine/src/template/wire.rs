//! The template's channel to the supervisor: a Unix socket (the template's fd 0). The
//! supervisor sends one byte per request — `F` with the run's three pipe ends attached
//! (`SCM_RIGHTS`: stdin, stdout, stderr of the run), `Q` to stop forking — and the template
//! answers with lines: `R <pid>` ready, `E <text>` preparation failed, `P <pid>` forked (the
//! run's pidfd attached, `SCM_RIGHTS`) or `F <pid>` forked (no pidfd: the kernel has none),
//! `N <text>` fork failed, `X <pid> <wait status>` a forked run exited (reaped by the template).
//!
//! The supervisor reads replies with `recvmsg` ([`ReplyReader`]): Linux never returns the data of
//! two descriptor-carrying writes in one `recvmsg` on a stream socket, and every `P` line is one
//! write with its descriptor, so the n-th received pidfd belongs to the n-th `P` line.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

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

/// Sends one reply line with `fd` (a forked run's pidfd) attached.
pub(crate) fn send_reply(
    socket: impl AsFd,
    reply: &Reply,
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let line = reply.line();
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    let mut sent = 0;
    while sent < line.len() {
        let bytes = &line.as_bytes()[sent..];
        let mut none = SendAncillaryBuffer::new(&mut []);
        let control = if sent == 0 { &mut control } else { &mut none };
        match rustix::net::sendmsg(
            &socket,
            &[IoSlice::new(bytes)],
            control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => sent += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The supervisor's reader of reply lines and the pidfds that come with `P` lines.
#[derive(Default)]
pub(crate) struct ReplyReader {
    buf: Vec<u8>,
    fds: VecDeque<OwnedFd>,
    eof: bool,
}

impl ReplyReader {
    /// The next complete line already received, with the pidfd of a `P` line.
    pub(crate) fn next_buffered(&mut self) -> Option<(Reply, Option<OwnedFd>)> {
        loop {
            let end = self.buf.iter().position(|b| *b == b'\n')?;
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            let Some(reply) = Reply::parse(&text) else {
                continue;
            };
            let fd = match reply {
                Reply::Forked { pidfd: true, .. } => self.fds.pop_front(),
                _ => None,
            };
            return Some((reply, fd));
        }
    }

    /// Whether the template closed the socket (and every line received was taken).
    pub(crate) fn at_end(&self) -> bool {
        self.eof && !self.buf.contains(&b'\n')
    }

    /// One `recvmsg` (non-blocking socket): appends data and descriptors; `WouldBlock` when
    /// nothing is there.
    pub(crate) fn fill(&mut self, socket: impl AsFd) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = loop {
            match rustix::net::recvmsg(
                &socket,
                &mut [IoSliceMut::new(&mut chunk)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(r) => break r,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                self.fds.extend(rights);
            }
        }
        if received.bytes == 0 {
            self.eof = true;
        }
        self.buf.extend_from_slice(&chunk[..received.bytes]);
        Ok(())
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
    /// A run was forked; `pidfd`: its pidfd comes with the line.
    Forked {
        pid: u32,
        pidfd: bool,
    },
    ForkFailed(String),
    Exited {
        pid: u32,
        status: i32,
    },
}

impl Reply {
    pub(crate) fn parse(line: &str) -> Option<Reply> {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "R" => rest.trim().parse().ok().map(Reply::Ready),
            "E" => Some(Reply::PrepareFailed(rest.to_owned())),
            "F" | "P" => rest.trim().parse().ok().map(|pid| Reply::Forked {
                pid,
                pidfd: tag == "P",
            }),
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
            Reply::Forked { pid, pidfd: false } => format!("F {pid}\n"),
            Reply::Forked { pid, pidfd: true } => format!("P {pid}\n"),
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
            Reply::Forked {
                pid: 9,
                pidfd: false,
            },
            Reply::Forked {
                pid: 9,
                pidfd: true,
            },
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

    #[test]
    fn pidfds_arrive_with_their_lines() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_reply(&a, &Reply::Ready(1), None).unwrap();
        send_reply(
            &a,
            &Reply::Forked {
                pid: 2,
                pidfd: true,
            },
            Some(r.as_fd()),
        )
        .unwrap();
        send_reply(
            &a,
            &Reply::Forked {
                pid: 3,
                pidfd: false,
            },
            None,
        )
        .unwrap();
        send_reply(
            &a,
            &Reply::Forked {
                pid: 4,
                pidfd: true,
            },
            Some(w.as_fd()),
        )
        .unwrap();
        drop(a);
        let mut reader = ReplyReader::default();
        let mut got = Vec::new();
        while !reader.at_end() {
            match reader.next_buffered() {
                Some((reply, fd)) => got.push((reply, fd.is_some())),
                None => reader.fill(&b).unwrap(),
            }
        }
        assert_eq!(
            got,
            vec![
                (Reply::Ready(1), false),
                (
                    Reply::Forked {
                        pid: 2,
                        pidfd: true
                    },
                    true
                ),
                (
                    Reply::Forked {
                        pid: 3,
                        pidfd: false
                    },
                    false
                ),
                (
                    Reply::Forked {
                        pid: 4,
                        pidfd: true
                    },
                    true
                ),
            ]
        );
    }
}
