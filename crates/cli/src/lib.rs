//! The `openfn` command: execute, compile and test jobs and workflows locally, and manage the
//! adaptor repository. Runs go through the engine, with the same isolation as the worker.
