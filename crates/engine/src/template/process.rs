//! The template process itself: started from the same binary with [`TEMPLATE_FLAG`], it
//! prepares one adaptor set (module evaluation done, nothing of any job seen), then waits on its
//! socket. For each `F` request it `fork()`s: the forked process takes the three pipe ends that
//! came with the request as its stdin, stdout and stderr and runs exactly one run through the
//! ordinary child loop ([`crate::child::run_forked`]), then exits. The template never runs job
//! code.
//!
//! Fork safety: the template is single-threaded — no async runtime, no thread pools — so the
//! forked process inherits no lock held by another thread; the run starts its own threads and
//! async runtime after the fork. The template reaps its forked runs itself (`SIGCHLD` through a
//! `signalfd`) and reports each wait status to the supervisor, so none is left a zombie.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use openfn_lexicon::log::LogLine;
use serde::{Deserialize, Serialize};

use super::wire::{self, FORK, QUIT, Reply};
use crate::child::{ChildJob, run_forked};

/// The adaptor set a template prepares: the repository and each adaptor's installed directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// The adaptor repository (the node host's module root).
    pub repo_dir: String,
    /// Adaptor name → installed directory (exact versions: the directory names the version).
    pub adaptors: std::collections::BTreeMap<String, String>,
    /// Modules job code may import (the runs' whitelist; the linker is prepared with it).
    #[serde(default)]
    pub whitelist: Vec<String>,
}

impl TemplateSpec {
    /// The spec as the template's command-line argument (and the key of the template set).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Prefix of a template's stderr line that carries a line the adaptor realm logged while the
/// template prepared its set (a JSON `LogLine`); the supervisor logs it as its own.
pub(crate) const PREPARE_LOG_PREFIX: &str = "openfn-template-log ";

/// Where a template sends what its adaptors log while they load: to its stderr, which the
/// supervisor reads (see [`PREPARE_LOG_PREFIX`]). These lines belong to no run.
pub fn log_while_preparing(line: LogLine) {
    if let Ok(json) = serde_json::to_string(&line) {
        crate::child::diagnostic(&format!("{PREPARE_LOG_PREFIX}{json}"));
    }
}

/// Stack the template's main thread may grow to: forked runs execute on it (QuickJS' stack
/// limit is measured from where the template created the runtime), so it matches the pooled
/// child's run thread.
const TEMPLATE_STACK_BYTES: u64 = 80 * 1024 * 1024;

/// Exit code of a template whose preparation failed.
const EXIT_PREPARE_FAILED: i32 = 4;

/// Whether `argv[1]` is the hidden template flag.
pub fn is_template_invocation() -> bool {
    std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == crate::config::TEMPLATE_FLAG)
}

/// Runs the template loop: `prepare` once (in the template, single-threaded), then for each
/// forked run `start` makes the run's job from the prepared state (after the fork). Never
/// returns.
pub fn run_template<P>(
    prepare: impl FnOnce(&TemplateSpec) -> Result<P, String>,
    start: impl Fn(&P) -> Box<dyn ChildJob + '_>,
) -> ! {
    let socket = match take_socket() {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("openfn-engine template: no socket on fd 0: {e}");
            std::process::exit(EXIT_PREPARE_FAILED);
        }
    };
    raise_stack_limit();
    // Runs raise theirs to 1000 after the fork: the kernel kills a run before its template.
    let _ = std::fs::write("/proc/self/oom_score_adj", "900");
    let spec = std::env::args()
        .nth(2)
        .ok_or_else(|| "missing adaptor set".to_owned())
        .and_then(|a| serde_json::from_str::<TemplateSpec>(&a).map_err(|e| e.to_string()));
    let prepared = match spec.and_then(|spec| prepare(&spec)) {
        Ok(prepared) => prepared,
        Err(e) => {
            say(&socket, &Reply::PrepareFailed(e));
            std::process::exit(EXIT_PREPARE_FAILED);
        }
    };
    crate::sys::trim_heap();
    let code = match serve(&socket, &|| start(&prepared)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("openfn-engine template: {e}");
            3
        }
    };
    std::process::exit(code)
}

/// Moves the socket off fd 0 (close on exec) and points fd 0 at `/dev/null`.
#[allow(unsafe_code, reason = "fcntl/dup2 on the process's own descriptors")]
fn take_socket() -> std::io::Result<OwnedFd> {
    let devnull = std::fs::File::open("/dev/null")?;
    // SAFETY: fd 0 is open (the supervisor passed the socket there); the duplicate is new and
    // owned by nobody else.
    let fd = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are open; fd 0 was duplicated above.
    if unsafe { libc::dup2(devnull.as_raw_fd(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor from fcntl, owned only by this value.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code, reason = "getrlimit/setrlimit are FFI calls")]
fn raise_stack_limit() {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid, writable rlimit struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut current) } != 0 {
        return;
    }
    if current.rlim_cur != libc::RLIM_INFINITY && current.rlim_cur < TEMPLATE_STACK_BYTES {
        let limit = libc::rlimit {
            rlim_cur: TEMPLATE_STACK_BYTES.min(current.rlim_max),
            rlim_max: current.rlim_max,
        };
        // SAFETY: `limit` is valid; the soft limit stays at or under the hard one.
        unsafe { libc::setrlimit(libc::RLIMIT_STACK, &limit) };
    }
}

/// Writes one reply line; a broken socket means the supervisor is gone.
fn say(socket: &OwnedFd, reply: &Reply) {
    let mut stream = std::fs::File::from(match socket.try_clone() {
        Ok(fd) => fd,
        Err(_) => std::process::exit(0),
    });
    if stream.write_all(reply.line().as_bytes()).is_err() {
        std::process::exit(0);
    }
}

/// Reports a forked run with its pidfd (opened before the template can reap it, so it names
/// this process and no other, whatever happens to the pid later).
fn forked(socket: &OwnedFd, pid: libc::pid_t) {
    let pidfd = rustix::process::Pid::from_raw(pid).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    let reply = Reply::Forked {
        pid: pid as u32,
        pidfd: pidfd.is_some(),
    };
    if wire::send_reply(socket, &reply, pidfd.as_ref().map(AsFd::as_fd)).is_err() {
        std::process::exit(0);
    }
}

/// A signal set holding only `SIGCHLD`.
#[allow(unsafe_code, reason = "sigset FFI")]
fn sigchld_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset adds a valid signal.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

/// The template's loop: fork on request, reap and report forked runs, stop on `Q` (once every
/// run is reaped) or when the supervisor closes the socket.
#[allow(unsafe_code, reason = "signalfd, poll, waitpid and fork are FFI calls")]
fn serve<'a>(socket: &OwnedFd, start: &dyn Fn() -> Box<dyn ChildJob + 'a>) -> std::io::Result<()> {
    let set = sigchld_set();
    // SAFETY: blocking SIGCHLD in this (only) thread; the signalfd reads it instead.
    let sfd = unsafe {
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if sfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `sfd` is a fresh descriptor owned only by this value.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    say(socket, &Reply::Ready(std::process::id()));
    let mut running = 0usize;
    let mut quitting = false;
    loop {
        if quitting && running == 0 {
            return Ok(());
        }
        let mut fds = [
            libc::pollfd {
                fd: socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd structs.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            drain(sfd.as_raw_fd());
            running -= reap(socket).min(running);
        }
        if fds[0].revents == 0 {
            continue;
        }
        match wire::recv_request(socket)? {
            None => return Ok(()),
            Some((QUIT, _)) => quitting = true,
            Some((FORK, pipes)) if pipes.len() == 3 && !quitting => {
                // SAFETY: the process is single-threaded here (see the module docs).
                match unsafe { libc::fork() } {
                    0 => become_run(socket, &sfd, &set, pipes, start),
                    -1 => say(
                        socket,
                        &Reply::ForkFailed(std::io::Error::last_os_error().to_string()),
                    ),
                    pid => {
                        running += 1;
                        drop(pipes);
                        forked(socket, pid);
                    }
                }
            }
            Some(_) => say(socket, &Reply::ForkFailed("bad request".into())),
        }
    }
}

#[allow(unsafe_code, reason = "read(2) on the signalfd")]
fn drain(fd: RawFd) {
    let mut buf = [0u8; 128 * 8];
    // SAFETY: reading into a valid buffer from a non-blocking descriptor we own.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Reaps every exited run and reports it; returns how many.
#[allow(unsafe_code, reason = "waitpid FFI")]
fn reap(socket: &OwnedFd) -> usize {
    let mut reaped = 0;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out pointer; WNOHANG never blocks.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return reaped;
        }
        reaped += 1;
        say(
            socket,
            &Reply::Exited {
                pid: pid as u32,
                status,
            },
        );
    }
}

/// In the forked process: drop the template's descriptors, take the run's pipes as fds 0–2,
/// restore the signal mask and run one run.
#[allow(unsafe_code, reason = "dup2/sigprocmask in the freshly forked process")]
fn become_run<'a>(
    socket: &OwnedFd,
    sfd: &OwnedFd,
    set: &libc::sigset_t,
    pipes: Vec<OwnedFd>,
    start: &dyn Fn() -> Box<dyn ChildJob + 'a>,
) -> ! {
    // SAFETY: closing the template's own descriptors in the child and pointing fds 0–2 at the
    // run's pipes; every descriptor named is open.
    unsafe {
        libc::close(socket.as_raw_fd());
        libc::close(sfd.as_raw_fd());
        libc::sigprocmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut());
        for (target, fd) in pipes.iter().enumerate() {
            if libc::dup2(fd.as_raw_fd(), target as RawFd) < 0 {
                libc::_exit(3);
            }
        }
    }
    drop(pipes);
    // Nothing random is shared with the template or the other runs.
    openfn_runtime::reseed_random();
    let job = start();
    run_forked(job.as_ref())
}
