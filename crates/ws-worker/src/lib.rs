//! The Lightning client: joins `worker:queue`, claims runs, executes them through the engine and
//! streams their events, logs and dataclips back over Phoenix channels.
//!
//! Not here: running or compiling user code (the engine's children do that).
