//! The Lightning ⇄ worker vocabulary (docs/protocol.md §3): channel topics and event names, the
//! Lightning plan (`fetch:plan` reply) and its conversion to the runtime [`ExecutionPlan`],
//! claims, and every worker→Lightning payload.
//!
//! Serialisation follows what goes on the wire: keys in the observed order, keys the kit leaves
//! out absent (never `null`) unless the kit sends `null`. Decoding is lenient where Lightning
//! renders `null` for optional fields.

mod payloads;
mod plan;
mod topics;

pub use payloads::*;
pub use plan::*;
pub use topics::*;
