//! Replies: [`Frame::into_reply`] and what it gives.

use std::borrow::Cow;

use serde_json::Value;

use crate::failure::{Error, Result, json_type};

use super::frame::names::{self, CHAN_REPLY_PREFIX};
use super::frame::{Frame, Payload};

impl Frame {
    /// Turns a reply frame into a [`Reply`].
    ///
    /// The ref is the frame's `ref`, or for a `chan_reply_<ref>` frame with no ref, the event's
    /// suffix. The payload must be an object with a string `status`; `response` may be absent.
    ///
    /// # Errors
    /// [`Error::NotAReply`] for other events; [`Error::MissingField`] / [`Error::FieldType`]
    /// naming `ref`, `payload` or `status`.
    pub fn into_reply(self) -> Result<Reply> {
        if !self.is_reply() {
            return Err(Error::NotAReply {
                event: self.event,
                topic: self.topic,
            });
        }
        let r#ref = match self.r#ref {
            Some(r) if !r.is_empty() => r,
            _ => match self.event.strip_prefix(CHAN_REPLY_PREFIX) {
                Some(suffix) if !suffix.is_empty() => suffix.to_owned(),
                _ => {
                    return Err(Error::MissingField {
                        context: "reply",
                        field: "ref",
                    });
                }
            },
        };
        let (status, response) = match self.payload {
            Payload::BinaryReply { status, response } => (status, Response::Binary(response)),
            Payload::Json(Value::Object(mut map)) => {
                let status = match map.remove("status") {
                    Some(Value::String(s)) => s,
                    Some(other) => {
                        return Err(Error::FieldType {
                            context: "reply",
                            field: "status",
                            expected: "a string",
                            found: json_type(&other),
                        });
                    }
                    None => {
                        return Err(Error::MissingField {
                            context: "reply",
                            field: "status",
                        });
                    }
                };
                let response = map
                    .remove("response")
                    .map_or(Response::Absent, Response::Json);
                (status, response)
            }
            Payload::Json(other) => {
                return Err(Error::FieldType {
                    context: "reply",
                    field: "payload",
                    expected: "an object",
                    found: json_type(&other),
                });
            }
            Payload::Binary(_) => {
                return Err(Error::FieldType {
                    context: "reply",
                    field: "payload",
                    expected: "an object",
                    found: "binary data",
                });
            }
        };
        Ok(Reply {
            join_ref: self.join_ref,
            r#ref,
            topic: self.topic,
            status: ReplyStatus::from(status),
            response,
        })
    }
}

/// A reply's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyStatus {
    /// `ok`.
    Ok,
    /// `error`.
    Error,
    /// Anything else (Phoenix only sends the two above; kept so nothing is lost).
    Other(String),
}

impl From<String> for ReplyStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            names::STATUS_OK => Self::Ok,
            names::STATUS_ERROR => Self::Error,
            _ => Self::Other(s),
        }
    }
}

impl ReplyStatus {
    /// The status string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => names::STATUS_OK,
            Self::Error => names::STATUS_ERROR,
            Self::Other(s) => s,
        }
    }
}

/// A reply's `response`.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// No `response` key (the mock's `{"status":"ok"}`).
    Absent,
    /// A JSON response: `{}`, `"ok"`, `null`, an object, an array of byte values…
    Json(Value),
    /// The raw bytes of a binary reply.
    Binary(Vec<u8>),
}

/// A reply to a push, correlated by `ref`, whatever form it arrived in.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The channel's join ref, if the server sent one.
    pub join_ref: Option<String>,
    /// The ref of the push this answers.
    pub r#ref: String,
    /// The channel topic.
    pub topic: String,
    /// `ok`, `error`…
    pub status: ReplyStatus,
    /// The response.
    pub response: Response,
}

impl Reply {
    /// Whether the status is `ok`.
    pub fn is_ok(&self) -> bool {
        self.status == ReplyStatus::Ok
    }

    /// The JSON response, if the reply has one (`None` when absent or binary).
    pub fn json(&self) -> Option<&Value> {
        match &self.response {
            Response::Json(value) => Some(value),
            _ => None,
        }
    }

    /// The JSON response, or `null` when absent; binary responses are parsed as JSON text.
    /// Use it for replies whose body is a JSON value (a plan, a credential).
    ///
    /// # Errors
    /// For a binary response that is not UTF-8 JSON.
    pub fn into_json(self) -> Result<Value> {
        match self.response {
            Response::Absent => Ok(Value::Null),
            Response::Json(value) => Ok(value),
            Response::Binary(bytes) => parse_json_bytes(&bytes),
        }
    }

    /// The response as raw bytes: the bytes of a binary reply, or a JSON array of byte
    /// values (the mock's dataclip form), or the UTF-8 of a JSON string.
    ///
    /// # Errors
    /// [`Error::MissingField`] when there is no response; [`Error::FieldType`] /
    /// [`Error::InvalidField`] naming `response` for any other shape or an out-of-range number.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.response {
            Response::Binary(bytes) => Ok(Cow::Borrowed(bytes)),
            Response::Json(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_u64()
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| Error::InvalidField {
                            context: "reply",
                            field: "response",
                            reason: format!(
                                "element {i} is {}, expected a byte value 0-255",
                                json_type(item)
                            ),
                        })
                })
                .collect::<Result<Vec<u8>>>()
                .map(Cow::Owned),
            Response::Json(Value::String(s)) => Ok(Cow::Borrowed(s.as_bytes())),
            Response::Json(other) => Err(Error::FieldType {
                context: "reply",
                field: "response",
                expected: "binary data, an array of byte values or a string",
                found: json_type(other),
            }),
            Response::Absent => Err(Error::MissingField {
                context: "reply",
                field: "response",
            }),
        }
    }

    /// A dataclip carried by this reply: [`Reply::bytes`], decoded as UTF-8, parsed as JSON.
    /// Works for Lightning's binary reply and the mock's number array.
    ///
    /// # Errors
    /// As [`Reply::bytes`], plus [`Error::Utf8`] / [`Error::Json`] for a bad body.
    pub fn dataclip(&self) -> Result<Value> {
        parse_json_bytes(&self.bytes()?)
    }

    /// The reason of an error reply: `response.reason` when it is a string (Lightning's
    /// `{"reason": "unauthorized"}`), else [`Reply::response_text`] (the mock's bare
    /// `"invalid_run_id"`).
    pub fn reason(&self) -> String {
        match &self.response {
            Response::Json(Value::Object(map)) => match map.get("reason") {
                Some(Value::String(reason)) => reason.clone(),
                _ => self.response_text(),
            },
            _ => self.response_text(),
        }
    }

    /// The response as text for error messages, the way the kit prints it: strings as they
    /// are, other JSON as compact JSON text, bytes as (lossy) UTF-8, absent as `null`.
    pub fn response_text(&self) -> String {
        match &self.response {
            Response::Absent => "null".to_owned(),
            Response::Json(Value::String(s)) => s.clone(),
            Response::Json(value) => value.to_string(),
            Response::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }
}

fn parse_json_bytes(bytes: &[u8]) -> Result<Value> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Utf8 { field: "response" })?;
    serde_json::from_str(text).map_err(|source| Error::Json {
        what: "reply response",
        source,
    })
}

/// Bytes as a JSON array of byte values: the mock's `fetch:dataclip` reply form.
pub fn byte_array(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|b| Value::from(*b)).collect())
}
