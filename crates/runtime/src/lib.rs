//! Runs an execution plan's steps inside QuickJS: state assembly, edges, errors, logs, limits,
//! adaptor loading and the seam to the Node-compatible host that adaptors need.
//!
//! Not here: processes, sockets or Phoenix. The runtime is handed a plan, compiled modules and
//! callbacks, and knows nothing of who asked.

mod error;
mod events;
mod host;
mod linker;
mod messages;
mod node;
mod plan;
mod runner;
mod sourcemap;

pub use error::{Position, RtError, RunError, Severity};
pub use events::{Callbacks, Event, MemoryUse, NoCallbacks, StateJson, line_text, parse_level};
pub use host::{
    AdaptorHost, EsmHost, aliased_name, package_entry, package_version, repo_module_path,
};
pub use linker::pattern_matches;
pub use messages::translate;
pub use node::NodeAdaptorHost;
pub use openfn_lexicon::log::{Level, LogLevel, LogLine};
pub use openfn_lexicon::plan::{ExecutionPlan, ModuleInfo, PlanOptions, Step, Workflow};
pub use openfn_node_host::{HostOptions, HostPolicy, NodeHost};
pub use plan::{name_and_version, plan_from_expression};
pub use runner::{Input, Outcome, RunOptions, print_duration, rss_bytes, run};
