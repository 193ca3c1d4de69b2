//! Returning memory to the OS after a run, and after a connection is recycled.
//!
//! glibc's allocator keeps freed memory in its arenas: after a run that buffered a lot (a
//! log storm, a large dataclip), the worker's RSS would stay at its peak. `malloc_trim(0)`
//! releases the free pages of every arena. Elsewhere this is a no-op.
//!
//! `malloc_trim` cannot give back the top of a thread's arena, and glibc's dynamic mmap threshold
//! puts a large buffer there after the first large one was freed (the threshold rises to the
//! size of each freed mmapped chunk, up to 32 MiB): a 10 MB input dataclip then stayed resident
//! after its run. [`configure`] fixes the threshold at 1 MiB, so every buffer that large is its
//! own mapping, returned to the OS the moment it is freed.

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

/// Allocations of this size and up are their own mappings (glibc's `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: usize = 1024 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD`] (no dynamic raise). Call once, early in
/// `main`, before threads start. Elsewhere a no-op.
#[allow(unsafe_code, reason = "FFI: glibc's mallopt")]
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}
