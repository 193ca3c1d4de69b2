//! Source map v3 built from the printer's piece list, as recast builds the kit's: every
//! non-space character (UTF-16 unit) of a slice copied from the user's source gets its own
//! segment, and printed text gets none. Sources over 1 MB get one segment per copied line (the
//! kit's per-character map of such a source is several times its size).

use serde::{Deserialize, Serialize};

use crate::text::{Doc, LineIndex, Piece};

/// Sources above this size get line-level mappings only (keeps big maps small and fast).
const TOKEN_MAPPINGS_LIMIT: usize = 1024 * 1024;

/// One entry of the kit's operations index (`map.operations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Callee name; absent for member or complex callees.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    /// 1-based line of the call in the source; -1 for created calls (`_defer`).
    pub line: i64,
    /// 1-based position in the default export array.
    pub order: usize,
}

/// A source map v3 plus the kit's `operations` index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceMap {
    /// Always 3.
    pub version: u8,
    /// `['<name>.js']`.
    pub sources: Vec<String>,
    /// Always empty.
    pub names: Vec<String>,
    /// Base64 VLQ mappings.
    pub mappings: String,
    /// `'<name>.map.js'`.
    pub file: String,
    /// The job source.
    pub sources_content: Vec<String>,
    /// Operations moved into the default export, when top-level-operations ran.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operations: Option<Vec<Operation>>,
}

impl SourceMap {
    /// The map as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn vlq(out: &mut String, value: i64) {
    let mut v = if value < 0 {
        ((-value) << 1) | 1
    } else {
        value << 1
    };
    loop {
        let mut digit = (v & 31) as usize;
        v >>= 5;
        if v > 0 {
            digit |= 32;
        }
        out.push(B64[digit] as char);
        if v == 0 {
            break;
        }
    }
}

struct Builder {
    mappings: String,
    gen_line: u32,
    gen_col: u32,
    prev_gen_col: i64,
    prev_src_line: i64,
    prev_src_col: i64,
    line_has_segment: bool,
    /// Last (src_line, src_col) emitted on this generated line, to skip duplicates.
    last: Option<(u32, u32)>,
}

impl Builder {
    fn segment(&mut self, src_line: u32, src_col: u32) {
        if self.last == Some((src_line, src_col)) {
            return;
        }
        if self.line_has_segment {
            self.mappings.push(',');
        }
        vlq(
            &mut self.mappings,
            i64::from(self.gen_col) - self.prev_gen_col,
        );
        vlq(&mut self.mappings, 0);
        vlq(&mut self.mappings, i64::from(src_line) - self.prev_src_line);
        vlq(&mut self.mappings, i64::from(src_col) - self.prev_src_col);
        self.prev_gen_col = i64::from(self.gen_col);
        self.prev_src_line = i64::from(src_line);
        self.prev_src_col = i64::from(src_col);
        self.line_has_segment = true;
        self.last = Some((src_line, src_col));
    }

    fn newline(&mut self) {
        self.mappings.push(';');
        self.gen_line += 1;
        self.gen_col = 0;
        self.prev_gen_col = 0;
        self.line_has_segment = false;
        self.last = None;
    }

    fn advance(&mut self, s: &str) {
        self.gen_col += if s.is_ascii() {
            s.len() as u32
        } else {
            s.encode_utf16().count() as u32
        };
    }
}

/// JavaScript's `\s` (what recast's `skipSpaces` skips).
fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Builds the mappings of `doc` (printed from `src`).
pub(crate) fn mappings(doc: &Doc, src: &str, lines: &LineIndex<'_>) -> String {
    let tokens = src.len() <= TOKEN_MAPPINGS_LIMIT;
    let mut b = Builder {
        mappings: String::new(),
        gen_line: 0,
        gen_col: 0,
        prev_gen_col: 0,
        prev_src_line: 0,
        prev_src_col: 0,
        line_has_segment: false,
        last: None,
    };
    for piece in &doc.pieces {
        match piece {
            Piece::New(s) => {
                let mut first = true;
                for part in s.split('\n') {
                    if !first {
                        b.newline();
                    }
                    first = false;
                    b.advance(part);
                }
            }
            Piece::Orig(start, end) => {
                let (line, mut s_col) = lines.line_col(*start);
                let mut s_line = line - 1;
                // recast maps every non-space UTF-16 unit of copied text to its source (big
                // sources: the first one of each line only).
                let mut at_line_start = true;
                for ch in src[*start as usize..*end as usize].chars() {
                    if ch == '\n' {
                        b.newline();
                        s_line += 1;
                        s_col = 0;
                        at_line_start = true;
                        continue;
                    }
                    let units = ch.len_utf16() as u32;
                    if !is_js_space(ch) && (tokens || at_line_start) {
                        for k in 0..units {
                            b.segment(s_line, s_col + k);
                            b.gen_col += 1;
                        }
                        b.gen_col -= units;
                        at_line_start = false;
                    }
                    b.gen_col += units;
                    s_col += units;
                }
            }
        }
    }
    // The source-map library stops at the last generated line with a segment.
    let kept = b.mappings.trim_end_matches(';').len();
    b.mappings.truncate(kept);
    b.mappings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlq_encoding() {
        let mut s = String::new();
        vlq(&mut s, 0);
        vlq(&mut s, 1);
        vlq(&mut s, -1);
        vlq(&mut s, 16);
        assert_eq!(s, "ACDgB");
    }
}
