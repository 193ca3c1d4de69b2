//! Runs an execution plan's steps inside QuickJS: state assembly, edges, errors, logs, limits,
//! adaptor loading and the Node-compatible host that adaptors need.
//!
//! Not here: processes, sockets or Phoenix. The runtime is handed a plan, compiled modules and
//! callbacks, and knows nothing of who asked.
