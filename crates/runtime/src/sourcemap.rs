//! Maps error positions and stack frames of a compiled job back to the user's source through
//! the compiler's source map, as the kit's `sourcemap-errors` does (including its quirk of
//! looking up the V8 1-based column as if it were 0-based).

use oxc_sourcemap::SourceMap;
use serde_json::Value;

use crate::error::{Position, RtError};

/// A parsed source map with its lookup table.
pub(crate) struct Mapper {
    map: SourceMap<'static>,
}

impl Mapper {
    pub fn new(source_map: &Value) -> Option<Mapper> {
        let mut clean = source_map.clone();
        if let Some(obj) = clean.as_object_mut() {
            obj.remove("operations");
        }
        let text = clean.to_string();
        let map = SourceMap::from_json_string(&text).ok()?.into_owned();
        Some(Mapper { map })
    }

    /// Original (line 1-based, column 0-based) for a generated (line 1-based, column as given).
    pub fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let table = self.map.generate_lookup_table();
        let token = self
            .map
            .lookup_token(&table, line.checked_sub(1)?, column)?;
        token.get_source_id()?;
        Some((token.get_src_line() + 1, token.get_src_col()))
    }

    /// A line (1-based) of the source named `file`, when the map holds content under that
    /// name (kit: `sourceContentFor(file, true)`, and only a non-empty content counts).
    pub fn source_line(&self, file: &str, line: u32) -> Option<String> {
        let content = self
            .map
            .get_sources()
            .zip(self.map.get_source_contents())
            .find(|(name, _)| *name == file)
            .and_then(|(_, content)| content)
            .filter(|content| !content.is_empty())?;
        content
            .split('\n')
            .nth(line.checked_sub(1)? as usize)
            .map(str::to_string)
    }
}

/// `line:col` at the end of a stack frame.
pub(crate) fn frame_position(frame: &str) -> Option<(u32, u32)> {
    let trimmed = frame.trim_end().trim_end_matches(')');
    let mut parts = trimmed.rsplit(':');
    let col = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((line, col))
}

/// Apply a step's source map to an error (kit `sourcemapErrors`). The failing line is added
/// as `pos.src` only when the map holds the source under `<step name or id>.js`, as in the
/// kit: a CLI job file is compiled before the runtime names its step `job-1`, so its map
/// names the source `src.js` and its errors carry no `src` (and print no `Error occurred at:`).
pub(crate) fn map_error(error: &mut RtError, source_map: &Value, step_name: &str) {
    let Some(mapper) = Mapper::new(source_map) else {
        return;
    };
    let file = format!(
        "{}.js",
        if step_name.is_empty() {
            "src"
        } else {
            step_name
        }
    );
    if let Some(pos) = error.pos.clone()
        && pos.line > 0
        && pos.column > 0
    {
        match mapper.original(pos.line, pos.column) {
            Some((line, column)) => {
                let src = mapper.source_line(&file, line);
                error.pos = Some(Position { line, column, src });
            }
            None => error.pos = None,
        }
        error.step = Some(step_name.to_string());
    }
    if let Some(stack) = &error.stack {
        let mut lines = stack.split('\n');
        let mut out: Vec<String> = lines.next().map(str::to_string).into_iter().collect();
        for frame in lines {
            let mapped = frame_position(frame)
                .filter(|_| frame.contains("vm:module(0)"))
                .and_then(|(l, c)| mapper.original(l, c).map(|(ol, oc)| (l, c, ol, oc)));
            match mapped {
                Some((l, c, ol, oc)) => {
                    out.push(frame.replace(&format!("{l}:{c}"), &format!("{ol}:{oc}")))
                }
                None => out.push(frame.to_string()),
            }
        }
        error.stack = Some(out.join("\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Severity;

    /// An identity map of the one-line source `fn(s => s.x.y)` named `<name>.js`, one segment
    /// per character.
    fn map(name: &str) -> Value {
        serde_json::json!({
            "version": 3,
            "sources": [format!("{name}.js")],
            "sourcesContent": ["fn(s => s.x.y)"],
            "names": [],
            "mappings": "AAAA,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC,CAAC",
        })
    }

    fn error_at(column: u32) -> RtError {
        let mut e = RtError::new("RuntimeError", Severity::Fail, "TypeError: x");
        e.pos = Some(Position {
            line: 1,
            column,
            src: None,
        });
        e
    }

    #[test]
    fn the_source_line_is_added_only_under_the_steps_own_name() {
        let mut named = error_at(10);
        map_error(&mut named, &map("two"), "two");
        let pos = named.pos.expect("a mapped position");
        assert_eq!((pos.line, pos.column), (1, 10));
        assert_eq!(pos.src.as_deref(), Some("fn(s => s.x.y)"));
        assert_eq!(named.step.as_deref(), Some("two"));

        // a CLI job file: compiled as `src`, run as `job-1`
        let mut job_file = error_at(10);
        map_error(&mut job_file, &map("src"), "job-1");
        let pos = job_file.pos.expect("a mapped position");
        assert_eq!((pos.line, pos.column, pos.src), (1, 10, None));
        assert_eq!(job_file.step.as_deref(), Some("job-1"));
    }
}
