//! Returning memory to the OS after a run, and after a connection is recycled.
//!
//! glibc's allocator keeps freed memory in its arenas: after a run that buffered a lot (a
//! log storm, a large dataclip), the worker's RSS would stay at its peak. `malloc_trim(0)`
//! releases the free pages of every arena. Elsewhere this is a no-op.

/// Gives freed heap memory back to the OS (glibc only). Cheap when there is little to give.
#[allow(unsafe_code, reason = "FFI: glibc's malloc_trim")]
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, taking the arena locks
    // itself; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
