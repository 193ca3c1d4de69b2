//! Frames: the text and binary codecs.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::failure::{Error, Result, json_type};

/// Event and topic names of the Phoenix protocol itself.
pub mod names {
    /// Join a channel.
    pub const PHX_JOIN: &str = "phx_join";
    /// Leave a channel.
    pub const PHX_LEAVE: &str = "phx_leave";
    /// A reply from the server (real Phoenix).
    pub const PHX_REPLY: &str = "phx_reply";
    /// The channel crashed on the server.
    pub const PHX_ERROR: &str = "phx_error";
    /// The channel was closed by the server.
    pub const PHX_CLOSE: &str = "phx_close";
    /// The heartbeat event, sent on [`PHOENIX`].
    pub const HEARTBEAT: &str = "heartbeat";
    /// The topic heartbeats are sent on.
    pub const PHOENIX: &str = "phoenix";
    /// Prefix of the mock's reply events (`chan_reply_<ref>`).
    pub const CHAN_REPLY_PREFIX: &str = "chan_reply_";
    /// Reply status for success.
    pub const STATUS_OK: &str = "ok";
    /// Reply status for failure.
    pub const STATUS_ERROR: &str = "error";
}

use names::{CHAN_REPLY_PREFIX, PHX_REPLY};

/// One Phoenix Channels v2 message.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The `ref` of the join that opened the channel (`None` for heartbeats and broadcasts).
    pub join_ref: Option<String>,
    /// This message's ref, used to correlate replies (`None` for server pushes).
    pub r#ref: Option<String>,
    /// The channel topic, e.g. `worker:queue` or `run:<id>`.
    pub topic: String,
    /// The event name, e.g. `claim`, `phx_reply`.
    pub event: String,
    /// The message body.
    pub payload: Payload,
}

/// The body of a [`Frame`].
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A JSON value (text frames). Normally an object; the mock sends JSON *strings* such as
    /// `"{}"` on pushes, see [`Frame::json_payload`].
    Json(Value),
    /// Raw bytes of a binary push or broadcast.
    Binary(Vec<u8>),
    /// A binary reply: its status and raw response bytes (Lightning's `fetch:dataclip` reply).
    BinaryReply {
        /// `ok` or `error`.
        status: String,
        /// The response bytes (for a dataclip: its JSON text).
        response: Vec<u8>,
    },
}

/// The layout of a binary frame, i.e. the value of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// Byte 0: a push (server push when encoded by [`Frame::encode_binary`]).
    Push,
    /// Byte 1: a reply.
    Reply,
    /// Byte 2: a broadcast.
    Broadcast,
}

impl BinaryKind {
    /// The kind byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Push => 0,
            Self::Reply => 1,
            Self::Broadcast => 2,
        }
    }
}

impl Frame {
    /// A frame with a JSON payload and no refs; set refs with [`Frame::with_refs`].
    pub fn new(topic: impl Into<String>, event: impl Into<String>, payload: Value) -> Self {
        Self {
            join_ref: None,
            r#ref: None,
            topic: topic.into(),
            event: event.into(),
            payload: Payload::Json(payload),
        }
    }

    /// Sets `join_ref` and `ref`.
    #[must_use]
    pub fn with_refs(mut self, join_ref: Option<&str>, r#ref: Option<&str>) -> Self {
        self.join_ref = join_ref.map(str::to_owned);
        self.r#ref = r#ref.map(str::to_owned);
        self
    }

    /// A `phx_join` for `topic`; the join's ref doubles as its `join_ref`.
    pub fn join(r#ref: &str, topic: impl Into<String>, params: Value) -> Self {
        Self::new(topic, names::PHX_JOIN, params).with_refs(Some(r#ref), Some(r#ref))
    }

    /// A `phx_leave` for a channel joined with `join_ref`.
    pub fn leave(join_ref: &str, r#ref: &str, topic: impl Into<String>) -> Self {
        Self::new(topic, names::PHX_LEAVE, Value::Object(Map::new()))
            .with_refs(Some(join_ref), Some(r#ref))
    }

    /// A heartbeat: `[null, ref, "phoenix", "heartbeat", {}]`.
    pub fn heartbeat(r#ref: &str) -> Self {
        Self::new(names::PHOENIX, names::HEARTBEAT, Value::Object(Map::new()))
            .with_refs(None, Some(r#ref))
    }

    /// A real-Phoenix reply: event `phx_reply`, payload `{"status", "response"}`.
    /// `response: None` leaves the `response` key out (the mock's `{"status":"ok"}`).
    pub fn reply(
        join_ref: Option<&str>,
        r#ref: &str,
        topic: impl Into<String>,
        status: &str,
        response: Option<Value>,
    ) -> Self {
        Self::new(topic, PHX_REPLY, reply_payload(status, response))
            .with_refs(join_ref, Some(r#ref))
    }

    /// The kit mock's reply form: event `chan_reply_<ref>` instead of `phx_reply`.
    pub fn mock_reply(
        join_ref: Option<&str>,
        r#ref: &str,
        topic: impl Into<String>,
        status: &str,
        response: Option<Value>,
    ) -> Self {
        Self::new(
            topic,
            format!("{CHAN_REPLY_PREFIX}{ref}"),
            reply_payload(status, response),
        )
        .with_refs(join_ref, Some(r#ref))
    }

    /// A binary reply (Lightning's `fetch:dataclip` form): send it with
    /// [`Frame::encode_binary`]`(BinaryKind::Reply)`.
    pub fn binary_reply(
        join_ref: Option<&str>,
        r#ref: &str,
        topic: impl Into<String>,
        status: &str,
        response: Vec<u8>,
    ) -> Self {
        Self {
            join_ref: join_ref.map(str::to_owned),
            r#ref: Some(r#ref.to_owned()),
            topic: topic.into(),
            event: PHX_REPLY.to_owned(),
            payload: Payload::BinaryReply {
                status: status.to_owned(),
                response,
            },
        }
    }

    /// The kit mock's server push: `[null, "", topic, event, "<payload as JSON text>"]`.
    pub fn mock_push(topic: impl Into<String>, event: impl Into<String>, payload: &Value) -> Self {
        let mut frame = Self::new(topic, event, Value::String(payload.to_string()));
        frame.r#ref = Some(String::new());
        frame
    }

    /// Decodes a text frame.
    ///
    /// # Errors
    /// [`Error::Json`] if the text is not JSON, [`Error::FrameArity`] if it is not a 5-element
    /// array, [`Error::FieldType`] naming `join_ref`, `ref`, `topic` or `event` when one has the
    /// wrong type.
    pub fn decode_text(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|source| Error::Json {
            what: "text frame",
            source,
        })?;
        Self::from_json(value)
    }

    /// Decodes a text frame that was already parsed as JSON.
    ///
    /// # Errors
    /// As [`Frame::decode_text`], minus JSON syntax errors.
    pub fn from_json(value: Value) -> Result<Self> {
        let items = match value {
            Value::Array(items) if items.len() == 5 => items,
            Value::Array(items) => {
                return Err(Error::FrameArity {
                    found: format!("an array of {} elements", items.len()),
                });
            }
            other => {
                return Err(Error::FrameArity {
                    found: json_type(&other).to_owned(),
                });
            }
        };
        let mut it = items.into_iter();
        let mut next = || it.next().unwrap_or(Value::Null);
        let join_ref = optional_string(next(), "join_ref")?;
        let r#ref = optional_string(next(), "ref")?;
        let topic = required_string(next(), "topic")?;
        let event = required_string(next(), "event")?;
        let payload = Payload::Json(next());
        Ok(Self {
            join_ref,
            r#ref,
            topic,
            event,
            payload,
        })
    }

    /// Decodes a binary frame as a **server** sends it (push without ref, reply, broadcast).
    /// A reply decodes to event `phx_reply` with a [`Payload::BinaryReply`].
    ///
    /// # Errors
    /// [`Error::Truncated`] naming the missing part, [`Error::UnknownKind`],
    /// [`Error::Utf8`] for a string part that is not UTF-8.
    pub fn decode_binary(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        match r.byte("kind")? {
            0 => {
                let [join_ref, topic, event] = r.strings(["join_ref", "topic", "event"])?;
                Ok(Self {
                    join_ref: non_empty(join_ref),
                    r#ref: None,
                    topic,
                    event,
                    payload: Payload::Binary(r.rest()),
                })
            }
            1 => {
                let [join_ref, r#ref, topic, status] =
                    r.strings(["join_ref", "ref", "topic", "status"])?;
                Ok(Self {
                    join_ref: non_empty(join_ref),
                    r#ref: non_empty(r#ref),
                    topic,
                    event: PHX_REPLY.to_owned(),
                    payload: Payload::BinaryReply {
                        status,
                        response: r.rest(),
                    },
                })
            }
            2 => {
                let [topic, event] = r.strings(["topic", "event"])?;
                Ok(Self {
                    join_ref: None,
                    r#ref: None,
                    topic,
                    event,
                    payload: Payload::Binary(r.rest()),
                })
            }
            other => Err(Error::UnknownKind(other)),
        }
    }

    /// Decodes a binary push as a **client** sends it (kind 0 with `join_ref`, `ref`, `topic`,
    /// `event`). Phoenix servers accept no other binary kind from clients.
    ///
    /// # Errors
    /// As [`Frame::decode_binary`]; any kind other than 0 is [`Error::UnknownKind`].
    pub fn decode_client_binary(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        match r.byte("kind")? {
            0 => {
                let [join_ref, r#ref, topic, event] =
                    r.strings(["join_ref", "ref", "topic", "event"])?;
                Ok(Self {
                    join_ref: non_empty(join_ref),
                    r#ref: non_empty(r#ref),
                    topic,
                    event,
                    payload: Payload::Binary(r.rest()),
                })
            }
            other => Err(Error::UnknownKind(other)),
        }
    }

    /// Encodes as a text frame.
    ///
    /// # Errors
    /// [`Error::Unencodable`] for binary payloads (text frames carry JSON only; to send bytes
    /// in a text frame the way the mock does, use [`byte_array`]).
    pub fn encode_text(&self) -> Result<String> {
        let Payload::Json(payload) = &self.payload else {
            return Err(Error::Unencodable(
                "a binary payload cannot go in a text frame",
            ));
        };
        let frame = (
            &self.join_ref,
            &self.r#ref,
            &self.topic,
            &self.event,
            payload,
        );
        serde_json::to_string(&frame).map_err(|source| Error::Json {
            what: "text frame",
            source,
        })
    }

    /// Encodes as a binary frame in a **server** layout: a push (`join_ref`, `topic`, `event`;
    /// no ref), a reply (needs a [`Payload::BinaryReply`] and a `ref`) or a broadcast (`topic`,
    /// `event`). A JSON payload is sent as its JSON text.
    ///
    /// # Errors
    /// [`Error::FieldTooLong`] for a string over 255 bytes, [`Error::Unencodable`] for a reply
    /// without a binary reply payload or without a ref.
    pub fn encode_binary(&self, kind: BinaryKind) -> Result<Vec<u8>> {
        let join_ref = self.join_ref.as_deref().unwrap_or("");
        match kind {
            BinaryKind::Push => {
                let body = self.body_bytes()?;
                encode_parts(
                    kind,
                    &[
                        ("join_ref", join_ref),
                        ("topic", &self.topic),
                        ("event", &self.event),
                    ],
                    &body,
                )
            }
            BinaryKind::Reply => {
                let Payload::BinaryReply { status, response } = &self.payload else {
                    return Err(Error::Unencodable(
                        "a binary reply needs a binary reply payload",
                    ));
                };
                let Some(r#ref) = self.r#ref.as_deref() else {
                    return Err(Error::Unencodable("a binary reply needs a ref"));
                };
                encode_parts(
                    kind,
                    &[
                        ("join_ref", join_ref),
                        ("ref", r#ref),
                        ("topic", &self.topic),
                        ("status", status),
                    ],
                    response,
                )
            }
            BinaryKind::Broadcast => {
                let body = self.body_bytes()?;
                encode_parts(
                    kind,
                    &[("topic", &self.topic), ("event", &self.event)],
                    &body,
                )
            }
        }
    }

    /// Encodes as a binary push in the **client** layout (`join_ref`, `ref`, `topic`, `event`).
    ///
    /// # Errors
    /// As [`Frame::encode_binary`].
    pub fn encode_client_binary(&self) -> Result<Vec<u8>> {
        let body = self.body_bytes()?;
        encode_parts(
            BinaryKind::Push,
            &[
                ("join_ref", self.join_ref.as_deref().unwrap_or("")),
                ("ref", self.r#ref.as_deref().unwrap_or("")),
                ("topic", &self.topic),
                ("event", &self.event),
            ],
            &body,
        )
    }

    fn body_bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.payload {
            Payload::Binary(bytes) => Ok(Cow::Borrowed(bytes)),
            Payload::Json(value) => Ok(Cow::Owned(value.to_string().into_bytes())),
            Payload::BinaryReply { .. } => Err(Error::Unencodable(
                "a binary reply payload can only be sent as a reply",
            )),
        }
    }

    /// The payload as JSON, lenient about the mock's string payloads: a JSON string whose
    /// content parses as JSON (`"{}"`) yields the parsed value; any other string is returned
    /// as is. `None` for binary payloads.
    pub fn json_payload(&self) -> Option<Cow<'_, Value>> {
        match &self.payload {
            Payload::Json(value @ Value::String(text)) => {
                Some(serde_json::from_str::<Value>(text).map_or(Cow::Borrowed(value), Cow::Owned))
            }
            Payload::Json(value) => Some(Cow::Borrowed(value)),
            Payload::Binary(_) | Payload::BinaryReply { .. } => None,
        }
    }

    /// Whether this frame is a reply: event `phx_reply` (Phoenix) or `chan_reply_<ref>` (mock).
    pub fn is_reply(&self) -> bool {
        self.event == PHX_REPLY || self.event.starts_with(CHAN_REPLY_PREFIX)
    }
}

fn reply_payload(status: &str, response: Option<Value>) -> Value {
    let mut map = Map::new();
    map.insert("status".to_owned(), Value::String(status.to_owned()));
    if let Some(response) = response {
        map.insert("response".to_owned(), response);
    }
    Value::Object(map)
}

fn optional_string(value: Value, field: &'static str) -> Result<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(Error::FieldType {
            context: "frame",
            field,
            expected: "a string or null",
            found: json_type(&other),
        }),
    }
}

fn required_string(value: Value, field: &'static str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(Error::FieldType {
            context: "frame",
            field,
            expected: "a string",
            found: json_type(&other),
        }),
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

fn encode_parts(kind: BinaryKind, parts: &[(&'static str, &str)], body: &[u8]) -> Result<Vec<u8>> {
    let strings: usize = parts.iter().map(|(_, s)| s.len()).sum();
    let mut out = Vec::with_capacity(1 + parts.len() + strings + body.len());
    out.push(kind.byte());
    for (field, s) in parts {
        let len = u8::try_from(s.len()).map_err(|_| Error::FieldTooLong {
            field,
            len: s.len(),
        })?;
        out.push(len);
    }
    for (_, s) in parts {
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(body);
    Ok(out)
}

/// The name of the length byte of a header string, as errors name it.
fn length_field(field: &'static str) -> &'static str {
    match field {
        "join_ref" => "join_ref length",
        "ref" => "ref length",
        "topic" => "topic length",
        "event" => "event length",
        "status" => "status length",
        _ => "length",
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&[u8]> {
        let available = self.bytes.len().saturating_sub(self.pos);
        if n > available {
            return Err(Error::Truncated {
                field,
                needed: n,
                available,
            });
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.bytes[start..self.pos])
    }

    fn byte(&mut self, field: &'static str) -> Result<u8> {
        Ok(self.take(field, 1)?[0])
    }

    fn string(&mut self, field: &'static str, len: u8) -> Result<String> {
        let bytes = self.take(field, usize::from(len))?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Error::Utf8 { field })
    }

    /// A header of `N` one-byte lengths (`<field> length`), then the `N` strings they measure.
    fn strings<const N: usize>(&mut self, fields: [&'static str; N]) -> Result<[String; N]> {
        let mut lens = [0u8; N];
        for (len, field) in lens.iter_mut().zip(fields) {
            *len = self.byte(length_field(field))?;
        }
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for ((text, field), len) in out.iter_mut().zip(fields).zip(lens) {
            *text = self.string(field, len)?;
        }
        Ok(out)
    }

    fn rest(&mut self) -> Vec<u8> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default().to_vec();
        self.pos = self.bytes.len();
        rest
    }
}
