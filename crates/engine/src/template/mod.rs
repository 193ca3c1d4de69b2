//! Warm adaptor templates (issue #17): a template is a process that has loaded one adaptor set
//! and forks a fresh process for each run, so a run starts from the pristine loaded state in
//! about a millisecond instead of loading the adaptor tree again.
//!
//! - `process.rs`: the template process (prepare, then fork, reap and report);
//! - `wire.rs`: its socket protocol (request bytes with `SCM_RIGHTS`, reply lines);
//! - `fork.rs`: the fork request a template's socket task serves, and the forked run it returns;
//! - `handle.rs`: the supervisor's side of one template (start, fork, exit statuses);
//! - `spare.rs`: its spare run, forked ahead so that a run's fork is off the claim path;
//! - `set.rs`: the engine's templates (which sets, bounds, staleness).
//!
//! A forked run is accounted for exactly like a pooled child (`pool.rs` wraps it in the same
//! `ChildProc`): the same IPC, limits, watchdog, and crash classification; only its exit status
//! comes from the template, which reaps it.

mod fork;
mod handle;
mod process;
mod set;
mod spare;
mod wire;

pub(crate) use fork::{Forked, RunExit};
pub(crate) use handle::Template;
pub use process::{TemplateSpec, is_template_invocation, log_while_preparing, run_template};
pub use set::TemplateInfo;
pub(crate) use set::Templates;
