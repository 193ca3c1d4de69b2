//! The shared vocabulary of the OpenFn worker stack.
//!
//! Everything that crosses a boundary between our crates, or between the worker and Lightning,
//! is defined here as a serde type: the Lightning plan (`fetch:plan` reply), worker→Lightning
//! event payloads, claims, the runtime execution plan, log lines, error classes
//! with their severities, and the Phoenix Channels v2 frame codec.
//!
//! Not here: any I/O, any JavaScript, any policy. This crate only describes data.
//!
//! Modules:
//! - [`phoenix`]: Phoenix Channels v2 frames (text and binary), replies and the mock's quirks.
//! - [`plan`]: the runtime execution plan (docs/execution.md §2.2) and per-run engine options.
//! - [`lightning`]: topics, event names, the Lightning plan and its conversion to an
//!   execution plan, claims and every worker→Lightning payload.
//! - [`error`]: the kit's error classes, their severities and the run exit reasons.
//! - [`log`]: JSON log lines, levels and the ns/µs timestamp helpers.
//! - [`term`]: the colour rule shared by the binaries (terminal, `NO_COLOR`, `CLICOLOR_FORCE`).
//!
//! Every decoder returns [`Error`], which names the field at fault.

mod de;
pub mod deep_json;
pub mod error;
mod failure;
pub mod lightning;
pub mod log;
mod ordered;
pub mod phoenix;
pub mod plan;
pub mod term;
pub mod wasm_call;

pub use failure::{Error, Result};
pub use ordered::OrderedMap;
