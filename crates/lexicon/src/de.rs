//! Small serde helpers shared by the wire types: tolerate `null` where the kit does.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` (or absent, with `#[serde(default)]`) becomes `T::default()`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Wraps any present value, `null` included, in `Some` (absent stays `None` via `default`).
pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}
