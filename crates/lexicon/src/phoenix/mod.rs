//! The Phoenix Channels v2 frame codec, as spoken by Lightning, `lightning-mock` and the worker.
//!
//! Text frames are JSON arrays `[join_ref, ref, topic, event, payload]`. Binary frames follow
//! Phoenix's V2 binary serializer: byte 0 is the kind (0 push, 1 reply, 2 broadcast), then
//! one-byte lengths, the strings, and the raw payload bytes. Lightning uses a binary reply for
//! exactly one message, the `fetch:dataclip` reply.
//!
//! The binary layouts, as Phoenix defines them:
//!
//! | kind | sender | header after the kind byte | strings |
//! |---|---|---|---|
//! | push (0) | server | `join_ref` len, `topic` len, `event` len | join_ref, topic, event |
//! | push (0) | client | `join_ref` len, `ref` len, `topic` len, `event` len | join_ref, ref, topic, event |
//! | reply (1) | server | `join_ref` len, `ref` len, `topic` len, `status` len | join_ref, ref, topic, status |
//! | broadcast (2) | server | `topic` len, `event` len | topic, event |
//!
//! Server-sent pushes carry no `ref`, so a kind-0 frame means different things depending on who
//! sent it: [`Frame::decode_binary`] reads what a server sends, [`Frame::decode_client_binary`]
//! what a client sends. An empty `join_ref`/`ref` in a binary frame decodes as `None`.
//!
//! Replies are read through [`Reply`] ([`Frame::into_reply`]), which irons out the differences
//! between real Phoenix and the kit's mock (docs/protocol.md §1.3): `phx_reply` or
//! `chan_reply_<ref>` events, a join response of `"ok"` or `{}`, no `response` key at all, and
//! dataclips as a binary frame or as a JSON array of byte values.

mod frame;
mod reply;

pub use frame::*;
pub use reply::*;
