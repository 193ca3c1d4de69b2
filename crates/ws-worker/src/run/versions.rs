//! The `Versions:` log line sent after `run:start`, laid out as the kit's worker lays it out:
//! `node.js` and `worker` first, then every adaptor in name order with its versions sorted,
//! each name padded to the longest key plus four (so long adaptor names keep a gap).

use serde_json::{Map, Value};

/// The kit's list-item glyph.
const GLYPH: &str = "▸";

/// The Node.js API version the adaptor host implements (`process.version` in the sandbox),
/// reported as `node` as the CLI does: there is no node.js in this worker.
const NODE_API: &str = "20.20.0";

/// `run:start`'s `versions` in the kit worker's key order: `worker`, `node`, `engine`,
/// `compiler`, `runtime`, then the adaptors as the engine lists them.
pub(super) fn run_start_versions(
    worker: &str,
    engine: &str,
    from_engine: impl IntoIterator<Item = (String, Value)>,
) -> Map<String, Value> {
    let mut rest: Map<String, Value> = from_engine.into_iter().collect();
    let mut all = Map::new();
    all.insert("worker".into(), Value::String(worker.to_owned()));
    let node = rest
        .shift_remove("node")
        .unwrap_or_else(|| Value::String(NODE_API.to_owned()));
    all.insert("node".into(), node);
    all.insert("engine".into(), Value::String(engine.to_owned()));
    for key in ["compiler", "runtime"] {
        if let Some(v) = rest.shift_remove(key) {
            all.insert(key.into(), v);
        }
    }
    all.extend(rest);
    all
}

/// The text of the `VER` log line for the `run:start` versions.
pub(super) fn version_text(versions: &Map<String, Value>) -> String {
    let longest = versions
        .keys()
        .map(|k| k.chars().count())
        .fold("worker".len(), usize::max);
    let line = |name: &str, value: String| format!("    {GLYPH} {name:<0$}{value}", longest + 4);
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Array(a)) => {
            let mut all: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            all.sort_unstable();
            all.join(", ")
        }
        Some(Value::Null) | None => "unknown".into(),
        Some(other) => other.to_string(),
    };
    let mut lines = vec![
        "Versions:".to_string(),
        line("node.js", text(versions.get("node"))),
        line("worker", text(versions.get("worker"))),
    ];
    let mut adaptors: Vec<&String> = versions
        .keys()
        .filter(|k| {
            !matches!(
                k.as_str(),
                "node" | "worker" | "compiler" | "runtime" | "engine"
            )
        })
        .collect();
    adaptors.sort();
    for name in adaptors {
        lines.push(line(name, text(versions.get(name))));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_adaptor_names_keep_a_gap_like_the_kit() {
        let versions = json!({
            "worker": "1.25.0",
            "engine": "1.0.0",
            "compiler": "1.0.0",
            "runtime": "1.0.0",
            "@openfn/language-http": ["7.2.10"],
            "@openfn/language-common": ["3.3.4", "2.0.0"],
        });
        let Value::Object(map) = versions else {
            unreachable!("an object literal")
        };
        let text = version_text(&map);
        // the longest key is 23 characters: every name is padded to 27
        assert_eq!(
            text,
            [
                "Versions:",
                "    ▸ node.js                    unknown",
                "    ▸ worker                     1.25.0",
                "    ▸ @openfn/language-common    2.0.0, 3.3.4",
                "    ▸ @openfn/language-http      7.2.10",
            ]
            .join("\n")
        );
    }

    #[test]
    fn run_start_versions_follow_the_kit_order() {
        let from_engine = [
            ("@openfn/language-common".to_owned(), json!(["3.3.4"])),
            ("compiler".to_owned(), json!("0.1.0")),
            ("runtime".to_owned(), json!("0.2.0")),
        ];
        let all = run_start_versions("1.0.0", "0.3.0", from_engine);
        let keys: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "worker",
                "node",
                "engine",
                "compiler",
                "runtime",
                "@openfn/language-common"
            ]
        );
        assert_eq!(all["engine"], "0.3.0");
        assert_eq!(all["node"], NODE_API);
    }

    #[test]
    fn short_names_pad_to_worker_plus_four() {
        let Value::Object(map) = json!({"worker": "1"}) else {
            unreachable!("an object literal")
        };
        assert_eq!(
            version_text(&map),
            "Versions:\n    ▸ node.js   unknown\n    ▸ worker    1"
        );
    }
}
