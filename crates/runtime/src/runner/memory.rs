//! Memory figures of the process: heap in use, resident set and its peak.

/// Bytes the process's allocator has handed out and not had back (glibc `mallinfo2`: small
/// blocks in use plus mmapped blocks): the QuickJS heap and the host's own, as Node's
/// `heapUsed` counts the JS heap. Cheap (it reads arena counters), unlike walking the QuickJS
/// heap, which costs ~0.5 ms on a small heap and grows with the number of objects. `None`
/// where glibc is not the allocator.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "mallinfo2 is a libc call with no safe wrapper")]
pub(super) fn heap_in_use() -> Option<u64> {
    // SAFETY: mallinfo2 takes no arguments, only reads the allocator's statistics and returns
    // them by value; it is thread-safe in glibc (it locks each arena while reading it).
    let info = unsafe { libc::mallinfo2() };
    u64::try_from(info.uordblks + info.hblkhd).ok()
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn heap_in_use() -> Option<u64> {
    None
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Reset the process's peak resident set size to its current size (Linux `clear_refs` 5), so
/// that [`peak_rss_bytes`] measures from here. Best effort: without it the peak is the
/// process's high-water mark.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}
