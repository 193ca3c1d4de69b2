//! The crate's error type: every decoder and encoder in lexicon reports what went wrong and
//! which field it was about, so a bad frame or plan can be logged and rejected, never panicked on.

use thiserror::Error;

/// Why lexicon could not decode (or encode) a value.
///
/// Every variant names the field (or frame part) at fault, so messages such as
/// ``frame field `topic`: expected a string, found null`` can go straight into a log.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The text was not JSON at all, or JSON that did not fit the expected shape
    /// (serde's message names the field and the position).
    #[error("invalid json in {what}: {source}")]
    Json {
        /// What was being decoded, e.g. `text frame` or `fetch:plan reply`.
        what: &'static str,
        /// The parser's own error.
        #[source]
        source: serde_json::Error,
    },
    /// A JSON document that parsed but did not fit the expected type; `path` names the field,
    /// e.g. `workflow.steps[0].next.b`.
    #[error("invalid {what} at `{path}`: {source}")]
    Decode {
        /// What was being decoded, e.g. `execution plan`.
        what: &'static str,
        /// The path of the offending field (`.` for the document itself).
        path: String,
        /// serde's message.
        #[source]
        source: serde_json::Error,
    },
    /// A text frame that is a JSON value but not an array of five elements.
    #[error(
        "text frame: expected an array of 5 elements [join_ref, ref, topic, event, payload], found {found}"
    )]
    FrameArity {
        /// A description of what was found (`an array of 3 elements`, `an object`…).
        found: String,
    },
    /// A field that has the wrong JSON type.
    #[error("{context} field `{field}`: expected {expected}, found {found}")]
    FieldType {
        /// Where the field lives, e.g. `frame` or `reply`.
        context: &'static str,
        /// The field's name.
        field: &'static str,
        /// What the field should be.
        expected: &'static str,
        /// The JSON type that was found.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("{context}: missing field `{field}`")]
    MissingField {
        /// Where the field should be.
        context: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A field holds a value of the right type that is not acceptable.
    #[error("{context} field `{field}`: {reason}")]
    InvalidField {
        /// Where the field lives.
        context: &'static str,
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary frame ended before the part it announced.
    #[error("binary frame truncated: `{field}` needs {needed} byte(s) but only {available} remain")]
    Truncated {
        /// The part being read (`kind`, `topic length`, `topic`…).
        field: &'static str,
        /// Bytes the part needs.
        needed: usize,
        /// Bytes left in the frame.
        available: usize,
    },
    /// A binary frame whose first byte is not 0 (push), 1 (reply) or 2 (broadcast).
    #[error("binary frame: unknown kind byte {0} (expected 0 push, 1 reply or 2 broadcast)")]
    UnknownKind(u8),
    /// A string in a binary frame that is not UTF-8.
    #[error("binary frame field `{field}`: not valid utf-8")]
    Utf8 {
        /// The frame part.
        field: &'static str,
    },
    /// A string too long for the one-byte length prefix of a binary frame.
    #[error("binary frame field `{field}`: {len} bytes is over the 255-byte limit")]
    FieldTooLong {
        /// The frame part.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A frame that cannot be encoded in the requested form (e.g. raw bytes in a text frame).
    #[error("cannot encode frame: {0}")]
    Unencodable(&'static str),
    /// A frame that was expected to be a reply but is not one.
    #[error("not a reply: event `{event}` on topic `{topic}`")]
    NotAReply {
        /// The frame's event.
        event: String,
        /// The frame's topic.
        topic: String,
    },
    /// An event name that is not part of the vocabulary.
    #[error("unknown event `{0}`")]
    UnknownEvent(String),
}

/// `Result` with lexicon's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Decodes `T` from JSON text, naming the offending field's path on error.
pub(crate) fn decode_str<T: serde::de::DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(de).map_err(|e| path_error(what, e))?;
    Ok(value)
}

/// Decodes `T` from a JSON value, naming the offending field's path on error.
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(
    what: &'static str,
    value: serde_json::Value,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(what, e))
}

fn path_error(what: &'static str, e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let source = e.into_inner();
    if source.is_syntax() || source.is_eof() {
        Error::Json { what, source }
    } else {
        Error::Decode { what, path, source }
    }
}
