//! The engine: runs workflow plans in a pool of child processes with hard memory and time
//! limits, resolves adaptors, credentials and dataclips on the way, and streams engine events.
//!
//! Invariant: the supervisor side of this crate never runs or compiles user code; everything
//! that touches a job happens in a child process.
