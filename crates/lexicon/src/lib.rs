//! The shared vocabulary of the OpenFn worker stack.
//!
//! Everything that crosses a boundary between our crates, or between the worker and Lightning,
//! is defined here as a serde type: the Lightning plan (`fetch:plan` reply), worker→Lightning
//! event payloads, claims, the runtime execution plan, engine events, log lines, error classes
//! with their severities, and the Phoenix Channels v2 frame codec.
//!
//! Not here: any I/O, any JavaScript, any policy. This crate only describes data.
//!
//! Modules:
//! - [`phoenix`]: Phoenix Channels v2 frames (text and binary), replies and the mock's quirks.
//!
//! Every decoder returns [`Error`], which names the field at fault.

mod failure;
pub mod phoenix;

pub use failure::{Error, Result};
