//! Small Linux process helpers: memory figures from `/proc`, the child's OS limits
//! (`RLIMIT_AS`, `oom_score_adj`) and moving the IPC channel off fds 0 and 1.

use std::fs::File;
use std::io;

/// A `kB` field (`VmRSS`, `VmSize`, `VmHWM`) of `/proc/<pid>/status`, in bytes.
pub fn status_bytes(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Resident set size of a process (`None` = this process), in bytes.
pub fn rss_bytes(pid: Option<u32>) -> Option<u64> {
    status_bytes(pid, "VmRSS")
}

/// Makes this process the kernel's first choice when memory runs out, so a runaway child is
/// killed before the supervisor.
pub fn prefer_oom_kill() -> io::Result<()> {
    std::fs::write("/proc/self/oom_score_adj", "1000")
}

/// Sets the soft `RLIMIT_AS` of this process (an address-space cap the kernel enforces: past it
/// allocations fail). The hard limit is left as it is, so later runs may raise the soft one.
#[allow(unsafe_code, reason = "setrlimit/getrlimit are FFI calls")]
pub fn set_address_space_limit(bytes: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid, writable rlimit struct for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let cur = if current.rlim_max == libc::RLIM_INFINITY {
        bytes
    } else {
        bytes.min(current.rlim_max)
    };
    let limit = libc::rlimit {
        rlim_cur: cur,
        rlim_max: current.rlim_max,
    };
    // SAFETY: `limit` is a valid rlimit struct; lowering or raising the soft limit up to the
    // unchanged hard limit is always permitted.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes fds 0 and 1 for the IPC channel: returns them as files on new descriptors, then points
/// fd 0 at `/dev/null` and fd 1 at stderr, so stray prints from any library cannot corrupt the
/// framed channel.
#[allow(unsafe_code, reason = "dup/dup2 and taking ownership of raw fds")]
pub fn take_stdio() -> io::Result<(File, File)> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let devnull = File::open("/dev/null")?;
    // SAFETY: dup on fds 0 and 1, which are open for the whole life of the process; the new
    // descriptors are owned by nobody else.
    let (input, output) = unsafe { (libc::dup(0), libc::dup(1)) };
    if input < 0 || output < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: dup2 onto fds 0 and 1 from descriptors that are open (devnull, stderr); the old
    // targets were duplicated above, so nothing is lost.
    let ok = unsafe { libc::dup2(devnull.as_raw_fd(), 0) >= 0 && libc::dup2(2, 1) >= 0 };
    if !ok {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `input` and `output` are fresh descriptors from dup, owned only by these files.
    Ok(unsafe { (File::from_raw_fd(input), File::from_raw_fd(output)) })
}

/// Gives the allocator's free memory back to the OS (glibc `malloc_trim(0)`: the free pages
/// of every arena, also inside the heap; elsewhere a no-op). A template calls it once its
/// adaptors are loaded: its RSS shrinks, and a run forked from it that allocates into those
/// pages gets fresh zero pages instead of copies of the template's.
#[allow(unsafe_code, reason = "FFI: glibc's malloc_trim")]
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, taking the arena locks
    // itself; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Ends the process at once (`_exit`): no exit handlers, no destructors, no flushing of
/// anything still buffered. For a forked run whose results are already written.
#[allow(unsafe_code, reason = "FFI: _exit")]
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of this process.
    unsafe { libc::_exit(code) }
}

/// Keeps freed memory in the process while a run goes on instead of handing it back to the OS
/// at once (glibc: trim threshold 512 MiB; allocations up to 32 MiB, a big state's text among
/// them, come from the heap instead of mappings of their own). A run that parses and
/// serialises a big state at every step then reuses its pages instead of faulting fresh zero
/// pages in each time. [`trim_heap`] after each run gives the memory back.
#[allow(unsafe_code, reason = "FFI: glibc's mallopt")]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, taking the allocator's lock itself.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_figures() {
        let rss = rss_bytes(None).unwrap();
        let size = status_bytes(None, "VmSize").unwrap();
        assert!(rss > 0 && size >= rss);
    }
}
