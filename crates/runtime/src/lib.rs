//! Runs an execution plan's steps inside QuickJS: state assembly, edges, errors, logs, limits,
//! adaptor loading and the seam to the Node-compatible host that adaptors need.
//!
//! Not here: processes, sockets or Phoenix. The runtime is handed a plan, compiled modules and
//! callbacks, and knows nothing of who asked.
//!
//! # Shape of a run
//!
//! [`run`] takes an [`ExecutionPlan`] (steps carry compiled ESM in `expression` and the
//! compiler's `sourceMap`), an [`Input`], [`RunOptions`] and a [`Callbacks`] implementation,
//! and returns an [`Outcome`] (the final state as JSON text) or a [`RunError`]
//! (`Aborted(RtError)` for crash/kill severities). Per run:
//!
//! - one QuickJS runtime (memory limit, stack limit, an interrupt handler for timeouts and
//!   the out-of-memory latch, and the module linker);
//! - one **adaptor realm** (a context set up by the [`AdaptorHost`]: [`EsmHost`] for plain
//!   ESM, [`NodeAdaptorHost`] for real npm adaptors), shared by all steps, so module-level
//!   adaptor state lives exactly as long as the run;
//! - a **fresh job realm per step**: the sandbox globals of the kit, code generation blocked,
//!   the job module linked against the allow-list, adaptor exports re-exposed through
//!   synthetic modules (values cross realms inside one QuickJS runtime);
//! - a console-only **condition realm** where JS edge conditions are compiled and evaluated.
//!
//! States cross steps as JSON text ([`StateJson`]): parsed into each fresh job realm, and
//! written back with the kit's safe-stringify semantics.

mod adaptor_realm;
mod adaptor_stack;
mod error;
mod events;
mod host;
mod linker;
mod messages;
mod node;
mod plan;
mod positions;
mod random;
mod runner;
mod sourcemap;

pub use error::{Position, RtError, RunError, Severity};
pub use events::{Callbacks, Event, MemoryUse, NoCallbacks, StateJson, line_text, parse_level};
pub use host::{
    AdaptorHost, CODEGEN_LIBRARIES, EsmHost, aliased_name, codegen_allowed, package_entry,
    package_version, repo_module_path,
};
pub use linker::pattern_matches;
pub use messages::translate;
pub use node::NodeAdaptorHost;
pub use openfn_lexicon::deep_json;
pub use openfn_lexicon::log::{Level, LogLevel, LogLine, print_duration};
pub use openfn_lexicon::plan::{ExecutionPlan, ModuleInfo, PlanOptions, Step, Workflow};
pub use openfn_node_host::{HostOptions, HostPolicy, NodeHost};
pub use plan::{name_and_version, plan_from_expression};
pub use random::reseed_random;
pub use runner::{
    Input, Outcome, Prepared, RunOptions, peak_rss_bytes, reset_peak_rss, rss_bytes, run,
    run_prepared,
};
