//! Log sanitising (docs/protocol.md §7.3): what the kit logger does to object and array arguments of
//! a log line under the `sanitize` option (`none`, `remove`, `obfuscate`, `summarize`).

use openfn_lexicon::plan::SanitizePolicy;
use serde_json::Value;

/// Applies `policy` to a JSON array of message parts. `None` means the line is not sent (its
/// only argument was removed). Text that is not a JSON array is returned unchanged.
pub fn sanitize(message_json: String, policy: SanitizePolicy) -> Option<String> {
    if policy == SanitizePolicy::None {
        return Some(message_json);
    }
    let Ok(parts) = serde_json::from_str::<Vec<Value>>(&message_json) else {
        return Some(message_json);
    };
    let parts: Vec<Value> = parts
        .into_iter()
        .map(|p| sanitize_part(p, policy))
        .collect();
    if parts.is_empty() || (parts.len() == 1 && parts[0].is_null()) {
        return None;
    }
    serde_json::to_string(&parts).ok()
}

fn sanitize_part(part: Value, policy: SanitizePolicy) -> Value {
    match (&part, policy) {
        (Value::Object(_) | Value::Array(_), SanitizePolicy::Remove) => Value::Null,
        (Value::Object(_), SanitizePolicy::Obfuscate) => Value::String("[object]".into()),
        (Value::Array(_), SanitizePolicy::Obfuscate) => Value::String("[array]".into()),
        (Value::Object(map), SanitizePolicy::Summarize) if map.is_empty() => {
            Value::String("(empty object)".into())
        }
        (Value::Object(map), SanitizePolicy::Summarize) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            Value::String(format!("(object with keys {})", keys.join(", ")))
        }
        (Value::Array(items), SanitizePolicy::Summarize) if items.is_empty() => {
            Value::String("(empty array)".into())
        }
        (Value::Array(items), SanitizePolicy::Summarize) => {
            Value::String(format!("(array with {} items)", items.len()))
        }
        _ => part,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(message: &str, policy: SanitizePolicy) -> Option<String> {
        sanitize(message.to_owned(), policy)
    }

    #[test]
    fn policies_match_the_kit_logger() {
        let m = r#"["hi",{"a":1,"b":2},[1,2,3],{},[]]"#;
        assert_eq!(run(m, SanitizePolicy::None).as_deref(), Some(m));
        assert_eq!(
            run(m, SanitizePolicy::Remove).as_deref(),
            Some(r#"["hi",null,null,null,null]"#)
        );
        assert_eq!(
            run(m, SanitizePolicy::Obfuscate).as_deref(),
            Some(r#"["hi","[object]","[array]","[object]","[array]"]"#)
        );
        assert_eq!(
            run(m, SanitizePolicy::Summarize).as_deref(),
            Some(
                r#"["hi","(object with keys a, b)","(array with 3 items)","(empty object)","(empty array)"]"#
            )
        );
    }

    #[test]
    fn a_line_whose_only_argument_is_removed_is_not_sent() {
        assert_eq!(run(r#"[{"a":1}]"#, SanitizePolicy::Remove), None);
        assert_eq!(
            run(r#"["x"]"#, SanitizePolicy::Remove).as_deref(),
            Some(r#"["x"]"#)
        );
    }
}
