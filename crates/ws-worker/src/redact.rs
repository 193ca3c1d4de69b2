//! Value-based credential redaction: every credential value fetched for a run, plus its base64
//! and URL-encoded forms (and `user:password` basic-auth strings), is replaced by `[REDACTED]`
//! in every log line and error message the worker sends out, and in the error objects
//! (`state.errors`) of every state it sends (`step:complete`'s `output_dataclip`,
//! `run:complete`'s `final_state`). The rest of a state is the job's data and is sent as is.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use serde_json::Value;

/// The replacement text.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not redacted (redacting `1` or `ok` would mangle every log).
const MIN_SECRET_LEN: usize = 4;

/// A per-run set of secret strings, shared between the credential resolver (which adds) and
/// the event sender (which scrubs). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every string (and number) leaf of a credential body and its encoded forms.
    pub fn add_credential(&self, body: &Value) {
        let mut found = Vec::new();
        collect_leaves(body, &mut found);
        if let Value::Object(map) = body {
            let user = map
                .get("username")
                .or_else(|| map.get("user"))
                .and_then(Value::as_str);
            let pass = map.get("password").and_then(Value::as_str);
            if let (Some(u), Some(p)) = (user, pass) {
                found.push(format!("{u}:{p}"));
            }
        }
        let mut all = Vec::new();
        for v in found {
            if v.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            let std_b64 = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
            let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.as_bytes());
            let pct = percent_encode(&v);
            let form = pct.replace("%20", "+");
            let json_escaped = serde_json::to_string(&v).unwrap_or_default();
            let json_inner = json_escaped
                .get(1..json_escaped.len().saturating_sub(1))
                .unwrap_or("")
                .to_string();
            all.extend([
                v,
                std_b64.trim_end_matches('=').to_string(),
                std_b64,
                url_b64,
                pct,
                form,
                json_inner,
            ]);
        }
        if all.is_empty() {
            return;
        }
        if let Ok(mut secrets) = self.secrets.write() {
            for s in all {
                if s.chars().count() >= MIN_SECRET_LEN && !secrets.contains(&s) {
                    secrets.push(s);
                }
            }
            // Longest first, so a value's encoded superset is replaced before its substrings.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.read().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// Redacts a string.
    pub fn redact_str(&self, text: &str) -> String {
        let Ok(secrets) = self.secrets.read() else {
            return text.to_string();
        };
        let mut out = text.to_string();
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string inside a JSON value, in place (keys included).
    pub fn redact_value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                let r = self.redact_str(s);
                if r != *s {
                    *s = r;
                }
            }
            Value::Number(n) => {
                let text = n.to_string();
                if self.redact_str(&text) != text {
                    *value = Value::String(REDACTED.to_string());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.redact_value(&mut v);
                    map.insert(self.redact_str(&k), v);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

impl Redactor {
    /// Redacts what an outgoing event may carry of a credential: `error_message`, and the
    /// error objects (`errors.<step>`, every string inside) of the state it carries, whether
    /// as JSON text (`output_dataclip`) or as a value (`final_state`).
    pub fn redact_event(&self, payload: &mut Value) {
        if self.is_empty() {
            return;
        }
        let Some(map) = payload.as_object_mut() else {
            return;
        };
        if let Some(Value::String(m)) = map.get_mut("error_message") {
            *m = self.redact_str(m);
        }
        if let Some(state) = map.get_mut("final_state") {
            self.redact_state_errors(state);
        }
        if let Some(Value::String(text)) = map.get_mut("output_dataclip")
            && text.contains("\"errors\"")
            && let Ok(mut state) = serde_json::from_str::<Value>(text)
            && self.redact_state_errors(&mut state)
        {
            *text = state.to_string();
        }
    }

    /// Redacts every string of `state.errors`; returns whether anything changed.
    fn redact_state_errors(&self, state: &mut Value) -> bool {
        let Some(errors) = state.get_mut("errors") else {
            return false;
        };
        let before = errors.clone();
        self.redact_value(errors);
        *errors != before
    }
}

fn collect_leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect_leaves(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_leaves(i, out)),
        Value::Null | Value::Bool(_) => {}
    }
}

/// `encodeURIComponent`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_values_and_encodings() {
        let r = Redactor::new();
        r.add_credential(&json!({"username": "admin", "password": "p@ss word!", "port": 5432, "ssl": true, "x": "ab"}));
        let b64 = base64::engine::general_purpose::STANDARD.encode("admin:p@ss word!");
        let pw64 = base64::engine::general_purpose::STANDARD.encode("p@ss word!");
        let text = format!(
            "user admin pw p@ss word! enc p%40ss%20word! form p%40ss+word! basic {b64} b64 {pw64} port 5432 ab"
        );
        let out = r.redact_str(&text);
        assert!(!out.contains("admin"), "{out}");
        assert!(!out.contains("p@ss"), "{out}");
        assert!(!out.contains("p%40ss"), "{out}");
        assert!(!out.contains(&b64), "{out}");
        assert!(!out.contains(&pw64), "{out}");
        assert!(!out.contains("5432"), "{out}");
        assert!(out.ends_with(" ab"), "short values stay: {out}");
    }

    #[test]
    fn redacts_json_recursively() {
        let r = Redactor::new();
        r.add_credential(&json!({"apiKey": "sekrit-123"}));
        let mut v = json!(["key is sekrit-123", {"nested": ["sekrit-123"], "sekrit-123": 1}]);
        r.redact_value(&mut v);
        assert_eq!(
            v,
            json!(["key is [REDACTED]", {"nested": ["[REDACTED]"], "[REDACTED]": 1}])
        );
    }

    #[test]
    fn redacts_error_objects_in_outgoing_states_only() {
        let r = Redactor::new();
        r.add_credential(&json!({"password": "hunter2-secret"}));
        let state = json!({
            "data": {"note": "hunter2-secret"},
            "errors": {"job": {"name": "Error", "message": "bad hunter2-secret",
                "stack": "Error: bad hunter2-secret\n    at x", "source": "JOB"}},
        });
        let mut step =
            json!({"error_message": "bad hunter2-secret", "output_dataclip": state.to_string()});
        r.redact_event(&mut step);
        assert_eq!(step["error_message"], "bad [REDACTED]");
        let out: Value =
            serde_json::from_str(step["output_dataclip"].as_str().expect("text")).expect("json");
        assert_eq!(out["errors"]["job"]["message"], "bad [REDACTED]");
        assert_eq!(
            out["errors"]["job"]["stack"],
            "Error: bad [REDACTED]\n    at x"
        );
        assert_eq!(
            out["data"]["note"], "hunter2-secret",
            "data is the job's own"
        );
        let mut complete = json!({"final_state": state, "reason": "fail"});
        r.redact_event(&mut complete);
        assert_eq!(
            complete["final_state"]["errors"]["job"]["message"],
            "bad [REDACTED]"
        );
        // what is not redacted: other encodings than the ones listed
        let hex: String = "hunter2-secret"
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let reversed: String = "hunter2-secret".chars().rev().collect();
        for text in [hex, reversed, "hunter2-secre".to_string()] {
            assert_eq!(r.redact_str(&text), text);
        }
    }

    #[test]
    fn empty_redactor_is_identity() {
        let r = Redactor::new();
        assert!(r.is_empty());
        assert_eq!(r.redact_str("hello"), "hello");
        r.add_credential(&Value::Null);
        assert!(r.is_empty());
    }
}
