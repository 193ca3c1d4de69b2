//! Lazy resolution of credentials, dataclips and the run input through callbacks given by the
//! embedder (the worker fetches them from Lightning; the CLI reads files).

use std::future::Future;
use std::pin::Pin;

use serde_json::value::RawValue;

/// What a resolver returns: the JSON document, or the error text the engine puts in its
/// message (e.g. `[fetch:credential] timeout`).
pub type Resolved = Result<Box<RawValue>, String>;

/// A boxed resolver future.
pub type ResolveFuture = Pin<Box<dyn Future<Output = Resolved> + Send + 'static>>;

/// Async callbacks that fetch credentials and states by id.
pub trait Resolvers: Send + Sync + 'static {
    /// The credential body for `id`.
    fn credential(&self, id: &str) -> ResolveFuture;
    /// The state (dataclip) for `id`.
    fn state(&self, id: &str) -> ResolveFuture;
}

/// Resolvers that know nothing: every lookup fails with `not found`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoResolvers;

impl Resolvers for NoResolvers {
    fn credential(&self, _id: &str) -> ResolveFuture {
        Box::pin(async { Err("not found".to_owned()) })
    }

    fn state(&self, _id: &str) -> ResolveFuture {
        Box::pin(async { Err("not found".to_owned()) })
    }
}

/// The input state of a run.
#[derive(Debug, Clone)]
pub enum Input {
    /// No input: the runtime starts from `{ data: {}, configuration: {} }`.
    Empty,
    /// A state given inline (raw JSON, forwarded to the child as is).
    Value(Box<RawValue>),
    /// A dataclip id, resolved with [`Resolvers::state`] when the run is dispatched. A failure
    /// ends the run with `DataClipError`.
    Dataclip(String),
}
