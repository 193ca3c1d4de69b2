//! JSON of any depth. A state nests as deep as JavaScript's `JSON.stringify` goes (thousands of
//! levels), far past serde_json's default recursion limit of 128, and a `serde_json::Value`
//! that deep overflows a thread's stack when it is parsed, serialised or dropped recursively.
//!
//! So states travel as text (`Box<RawValue>`, the runtime's `StateJson`) wherever they are only
//! moved, and the few places that must look inside use these functions, all iterative (no
//! stack growth with depth):
//! - [`validate`], [`pretty`] and [`object_entries`] work on the text without building a
//!   `Value` (serde_json's value skipper is iterative);
//! - [`parse`] and [`to_string`] build and print a `Value` of any depth;
//! - [`drop_value`] frees a `Value` of any depth.

use serde::de::{Deserialize, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Parses JSON text of any depth into a `Value` (serde_json stops at 128 levels). Drop the
/// result with [`drop_value`] when it may be deep.
///
/// # Errors
/// The text is not one JSON value.
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    validate(text)?;
    // Containers being filled: (container, key under which it goes into its parent).
    let mut stack: Vec<(Value, Option<String>)> = Vec::new();
    let mut key: Option<String> = None;
    let b = text.as_bytes();
    let mut i = 0usize;
    loop {
        i = skip_ws(b, i);
        let Some(&c) = b.get(i) else {
            break;
        };
        let scalar = match c {
            b',' | b':' => {
                i += 1;
                continue;
            }
            b'{' | b'[' => {
                let empty = if c == b'{' {
                    Value::Object(Map::new())
                } else {
                    Value::Array(Vec::new())
                };
                stack.push((empty, key.take()));
                i += 1;
                continue;
            }
            b'}' | b']' => {
                i += 1;
                match stack.pop() {
                    Some((done, k)) => {
                        key = k;
                        done
                    }
                    None => break,
                }
            }
            b'"' => {
                let end = string_end(b, i);
                let s = unescape(&text[i..end])?;
                i = end;
                // A string right after `{` or `,` in an object is a key.
                if let Some((Value::Object(_), _)) = stack.last()
                    && key.is_none()
                    && b.get(skip_ws(b, i)) == Some(&b':')
                {
                    key = Some(s);
                    continue;
                }
                Value::String(s)
            }
            _ => {
                let start = i;
                while i < b.len() && !is_delimiter(b[i]) {
                    i += 1;
                }
                serde_json::from_str(&text[start..i])?
            }
        };
        match stack.last_mut() {
            Some((Value::Array(items), _)) => items.push(scalar),
            Some((Value::Object(map), _)) => {
                map.insert(key.take().unwrap_or_default(), scalar);
            }
            _ => return Ok(scalar),
        }
    }
    // `validate` accepted the text, so the top-level value was returned above.
    Err(serde::de::Error::custom("incomplete JSON"))
}

/// Serialises a `Value` of any depth to compact JSON text (as `Value::to_string` does).
pub fn to_string(value: &Value) -> String {
    enum Item<'a> {
        Value(&'a Value),
        Text(&'static str),
        Key(&'a str),
    }
    let mut out = String::new();
    let mut todo = vec![Item::Value(value)];
    while let Some(item) = todo.pop() {
        match item {
            Item::Text(t) => out.push_str(t),
            Item::Key(k) => {
                out.push_str(&Value::String(k.to_owned()).to_string());
                out.push(':');
            }
            Item::Value(Value::Array(items)) => {
                out.push('[');
                todo.push(Item::Text("]"));
                for (n, v) in items.iter().enumerate().rev() {
                    todo.push(Item::Value(v));
                    if n > 0 {
                        todo.push(Item::Text(","));
                    }
                }
            }
            Item::Value(Value::Object(map)) => {
                out.push('{');
                todo.push(Item::Text("}"));
                let n = map.len();
                for (idx, (k, v)) in map.iter().rev().enumerate() {
                    todo.push(Item::Value(v));
                    todo.push(Item::Key(k));
                    if idx + 1 < n {
                        todo.push(Item::Text(","));
                    }
                }
            }
            Item::Value(scalar) => out.push_str(&scalar.to_string()),
        }
    }
    out
}

/// The string of a JSON string literal. A lone surrogate escape (`"\ud800"`, which
/// `JSON.stringify` writes for a lone surrogate) becomes U+FFFD where serde_json would refuse
/// the whole text.
fn unescape(literal: &str) -> Result<String, serde_json::Error> {
    match serde_json::from_str(literal) {
        Ok(s) => Ok(s),
        Err(e) if !literal.contains("\\u") => Err(e),
        Err(_) => {
            let inner = literal
                .get(1..literal.len().saturating_sub(1))
                .unwrap_or("");
            let mut units: Vec<u16> = Vec::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    let mut buf = [0u16; 2];
                    units.extend_from_slice(c.encode_utf16(&mut buf));
                    continue;
                }
                let unit = match chars.next() {
                    Some('u') => {
                        let hex: String = chars.by_ref().take(4).collect();
                        u16::from_str_radix(&hex, 16).map_err(serde::de::Error::custom)?
                    }
                    Some('b') => 0x08,
                    Some('f') => 0x0c,
                    Some('n') => 0x0a,
                    Some('r') => 0x0d,
                    Some('t') => 0x09,
                    Some(other) => other as u16,
                    None => return Err(serde::de::Error::custom("unterminated escape")),
                };
                units.push(unit);
            }
            Ok(String::from_utf16_lossy(&units))
        }
    }
}

/// Drops a `Value` of any depth without recursing.
pub fn drop_value(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn is_delimiter(c: u8) -> bool {
    matches!(c, b',' | b'}' | b']' | b':' | b' ' | b'\t' | b'\n' | b'\r')
}

/// Checks that `text` is exactly one JSON value, at any depth.
///
/// # Errors
/// The syntax error, with its line and column.
pub fn validate(text: &str) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_ignored_any(IgnoredAny)?;
    de.end()
}

/// An object's members: keys with their values as raw JSON text.
pub type Members = Vec<(String, Box<RawValue>)>;

/// The top-level members of a JSON object, in order, each value as raw text; `None` when the
/// text is valid JSON but not an object.
///
/// # Errors
/// The text is not valid JSON.
pub fn object_entries(text: &str) -> Result<Option<Members>, serde_json::Error> {
    validate(text)?;
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let Entries(entries) = serde_json::from_str(text)?;
    Ok(Some(entries))
}

/// Builds compact object text from `(key, raw JSON text)` members.
pub fn object_text<'a>(members: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(k.to_owned()).to_string());
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

/// `state.errors[step] = error` on state text of any depth, as the kit runtime records a
/// failed step: no state (or not JSON) becomes `{}` first; `errors` that is not an object is
/// replaced; a state that is not an object is returned unchanged. Members keep their order.
pub fn with_step_error(state: Option<&str>, step: &str, error: &Value) -> String {
    let entries = match state.map(object_entries) {
        Some(Ok(Some(entries))) => entries,
        Some(Ok(None)) => return state.unwrap_or_default().to_owned(),
        None | Some(Err(_)) => Vec::new(),
    };
    let error = to_string(error);
    let mut errors: Vec<(String, String)> = entries
        .iter()
        .rev()
        .find(|(k, _)| k == "errors")
        .and_then(|(_, v)| object_entries(v.get()).ok().flatten())
        .map(|e| {
            e.into_iter()
                .map(|(k, v)| (k, v.get().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    match errors.iter_mut().find(|(k, _)| k == step) {
        Some(slot) => slot.1 = error,
        None => errors.push((step.to_owned(), error)),
    }
    let errors = object_text(errors.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut members: Vec<(&str, &str)> =
        entries.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
    match members.iter_mut().find(|(k, _)| *k == "errors") {
        Some(slot) => slot.1 = &errors,
        None => members.push(("errors", &errors)),
    }
    object_text(members)
}

struct Entries(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Re-lays JSON text of any depth out as `JSON.stringify(value, null, 2)` does: two-space
/// indents, `"key": value`, empty objects and arrays as `{}` and `[]`. Strings and numbers are
/// copied as they are. Iterative: no stack growth with depth.
///
/// # Errors
/// The text is not valid JSON.
pub fn pretty(text: &str) -> Result<String, serde_json::Error> {
    validate(text)?;
    Ok(pretty_valid(text))
}

/// [`pretty`] of a value already known to be valid JSON (a `RawValue` was checked when it was
/// made): one pass, no validation.
pub fn pretty_raw(raw: &RawValue) -> String {
    pretty_valid(raw.get())
}

/// The top-level members of an object as slices of its text, `(key literal with its quotes,
/// value text)`, in order, found in one pass without validating again (a `RawValue` is valid
/// JSON); `None` when the value is not an object. Compare keys with [`key_is`].
pub fn raw_members(raw: &RawValue) -> Option<Vec<(&str, &str)>> {
    let text = raw.get();
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        i = skip_ws(b, i);
        match b.get(i) {
            None | Some(b'}') => break,
            Some(b',') => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let key_end = string_end(b, i);
        let key = &text[i..key_end];
        // the `:` after the key, then the value
        let start = skip_ws(b, skip_ws(b, key_end) + 1);
        i = value_end(b, start);
        out.push((key, &text[start..i]));
    }
    Some(out)
}

/// Whether the key literal `literal` (with its quotes, from [`raw_members`]) names `name`.
pub fn key_is(literal: &str, name: &str) -> bool {
    if literal.contains('\\') {
        return unescape(literal).is_ok_and(|k| k == name);
    }
    literal.len() == name.len() + 2 && &literal[1..literal.len() - 1] == name
}

/// Whether the value of valid JSON text `value` is truthy in JavaScript (`null`, `false`, `""`
/// and zero are not).
pub fn is_truthy(value: &str) -> bool {
    match value.trim() {
        "null" | "false" | "\"\"" => false,
        t if t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            t.parse::<f64>().is_ok_and(|n| n != 0.0)
        }
        _ => true,
    }
}

/// End (exclusive) of the value starting at `start`, in valid JSON.
fn value_end(b: &[u8], start: usize) -> usize {
    match b.get(start) {
        Some(b'"') => string_end(b, start),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            b.len()
        }
        _ => {
            let mut i = start;
            while i < b.len() && !is_delimiter(b[i]) {
                i += 1;
            }
            i
        }
    }
}

/// The body of [`pretty`], on valid JSON text.
fn pretty_valid(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut i = 0usize;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                let next = skip_ws(b, i + 1);
                if b.get(next) == Some(&close) {
                    out.push(c as char);
                    out.push(close as char);
                    i = next + 1;
                } else {
                    out.push(c as char);
                    depth += 1;
                    newline(&mut out, depth);
                    i += 1;
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c as char);
                i += 1;
            }
            b',' => {
                out.push(',');
                newline(&mut out, depth);
                i += 1;
            }
            b':' => {
                out.push_str(": ");
                i += 1;
            }
            b'"' => {
                let end = string_end(b, i);
                out.push_str(&text[i..end]);
                i = end;
            }
            _ => {
                // A number or a literal: up to the next structural byte or whitespace.
                let start = i;
                while i < b.len() && !is_delimiter(b[i]) {
                    i += 1;
                }
                out.push_str(&text[start..i]);
            }
        }
    }
    out
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// End (exclusive) of the string literal starting at `start` (a `"`), in validated JSON.
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        let mut s = String::new();
        for _ in 0..depth {
            s.push_str("{\"a\":[");
        }
        s.push_str("true");
        for _ in 0..depth {
            s.push_str("]}");
        }
        s
    }

    #[test]
    fn pretty_matches_serde_json_for_shallow_values() {
        let text = r#" {"a": [1, 2.5, {"b": {}}, [], "x,\"y\"]:"], "c": {"d": null, "e": [true, false]}, "": -1e5} "#;
        let value: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            pretty(text).unwrap(),
            serde_json::to_string_pretty(&value)
                .unwrap()
                .replace("-100000.0", "-1e5")
        );
        assert_eq!(pretty("42").unwrap(), "42");
        assert_eq!(pretty("\"s\"").unwrap(), "\"s\"");
        assert!(pretty("{\"a\":").is_err());
        assert!(pretty("{} x").is_err());
    }

    #[test]
    fn deep_values_round_trip_on_a_small_stack() {
        let text = nested(50_000);
        let run = move || {
            let value = parse(&text).unwrap();
            assert_eq!(to_string(&value), text);
            drop_value(value);
            validate(&text).unwrap();
            let small = nested(500);
            let p = pretty(&small).unwrap();
            assert_eq!(p.lines().count(), 4 * 500 + 1);
            assert_eq!(p.lines().nth(3), Some("      \"a\": ["));
            let entries = object_entries(&text).unwrap().unwrap();
            assert_eq!(entries.len(), 1);
            assert_eq!(
                object_text(entries.iter().map(|(k, v)| (k.as_str(), v.get()))),
                text
            );
            let failed = with_step_error(Some(&text), "s", &serde_json::json!({"m": 1}));
            assert!(failed.starts_with(&text[..text.len() - 1]));
            assert!(failed.ends_with(r#","errors":{"s":{"m":1}}}"#));
        };
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(run)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn parse_and_to_string_agree_with_serde_json() {
        for text in [
            r#"{"a":[1,-2.5e3,{"b":{}},[],"x,\"y\"]:\u00e9"],"c":{"d":null,"e":[true,false]},"":"k"}"#,
            "[]",
            "{}",
            " \"s\" ",
            "-0",
            r#"[{"a":1,"a":2}]"#,
            r#"{"k":"v","n":{"k":"v"}}"#,
        ] {
            let ours = parse(text).unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            assert_eq!(to_string(&ours), theirs.to_string(), "{text}");
        }
        assert!(parse("[1,]").is_err());
        assert_eq!(
            parse(r#"["\ud800x\n\u00e9\ud83d\ude00"]"#).unwrap(),
            serde_json::json!(["\u{fffd}x\n\u{e9}\u{1f600}"])
        );
        assert!(parse("{\"a\" 1}").is_err());
    }

    #[test]
    fn step_errors_as_the_kit_records_them() {
        let e = serde_json::json!({"message": "x"});
        assert_eq!(
            with_step_error(None, "a", &e),
            r#"{"errors":{"a":{"message":"x"}}}"#
        );
        assert_eq!(with_step_error(Some("[1]"), "a", &e), "[1]");
        assert_eq!(
            with_step_error(Some(r#"{"errors":{"a":1,"b":2},"data":{}}"#), "a", &e),
            r#"{"errors":{"a":{"message":"x"},"b":2},"data":{}}"#
        );
        assert_eq!(
            with_step_error(Some(r#"{"errors":3}"#), "b", &e),
            r#"{"errors":{"b":{"message":"x"}}}"#
        );
    }

    #[test]
    fn numbers_out_of_range_pass_through_text_but_not_into_a_value() {
        // Found by fuzzing: valid syntax that no `Value` holds. Text functions keep it.
        let text = "2022222222222222222222E915";
        assert!(parse(text).is_err());
        assert!(serde_json::from_str::<Value>(text).is_err());
        validate(text).unwrap();
        assert_eq!(
            pretty(&format!("[{text}]")).unwrap(),
            format!("[\n  {text}\n]")
        );
    }

    #[test]
    fn object_entries_only_for_objects() {
        assert!(object_entries("[1]").unwrap().is_none());
        assert!(object_entries(" 3 ").unwrap().is_none());
        let e = object_entries(r#"{"configuration":{"x":1},"data":[]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e[0].0, "configuration");
        assert_eq!(e[1].1.get(), "[]");
        assert!(object_entries("{").is_err());
    }

    #[test]
    fn raw_members_slice_the_top_level_of_any_depth() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let deep = nested(10_000);
        let text = format!(
            r#" {{ "a" : {deep} , "b\"}}" :"x}}]\\" ,"c":[1,{{"d":"]"}}],"e":-1.5e3,"f":{{}} }} "#
        );
        let state = raw(&text);
        let members = raw_members(&state).unwrap();
        let keys: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, [r#""a""#, r#""b\"}""#, r#""c""#, r#""e""#, r#""f""#]);
        assert_eq!(members[0].1, deep);
        assert_eq!(members[1].1, r#""x}]\\""#);
        assert_eq!(members[2].1, r#"[1,{"d":"]"}]"#);
        assert_eq!(members[3].1, "-1.5e3");
        assert_eq!(members[4].1, "{}");
        assert!(raw_members(&raw("[1]")).is_none());
        assert_eq!(raw_members(&raw("{}")).unwrap(), vec![]);
        assert!(key_is(r#""b\"}""#, "b\"}"));
        assert!(key_is(r#""d\u0061ta""#, "data"));
        assert!(!key_is(r#""dat""#, "data"));
        let small = text.replace(&deep, &nested(3));
        assert_eq!(pretty_raw(&raw(&small)), pretty(&small).unwrap());
    }

    #[test]
    fn truthiness_as_javascript() {
        for falsy in ["null", "false", r#""""#, "0", "-0", "0.0", "0e10", " 0 "] {
            assert!(!is_truthy(falsy), "{falsy}");
        }
        for truthy in ["true", r#"" ""#, "1", "-1e-9", "{}", "[]", r#""0""#] {
            assert!(is_truthy(truthy), "{truthy}");
        }
    }
}
