//! Text helpers for the span-splicing printer: line/column lookup in the user's source (acorn
//! style: 1-based lines, 0-based UTF-16 columns) and `Doc`, a piece list that mixes slices of
//! the original source with synthesized text so that the source map can be built from it.

/// Line starts of a source text, for byte offset → (line, column) lookups.
pub(crate) struct LineIndex<'s> {
    src: &'s str,
    starts: Vec<u32>,
}

impl<'s> LineIndex<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        let mut starts = Vec::with_capacity(src.len() / 40 + 1);
        starts.push(0);
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i as u32 + 1),
                b'\r' => {
                    if bytes.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    starts.push(i as u32 + 1);
                }
                // U+2028 / U+2029 are line terminators for acorn too.
                0xE2 if bytes.get(i + 1) == Some(&0x80)
                    && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    i += 2;
                    starts.push(i as u32 + 1);
                }
                _ => {}
            }
            i += 1;
        }
        Self { src, starts }
    }

    /// 0-based line index of a byte offset.
    pub(crate) fn line0(&self, offset: u32) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// 1-based line and 0-based UTF-16 column of a byte offset.
    pub(crate) fn line_col(&self, offset: u32) -> (u32, u32) {
        let line = self.line0(offset);
        let start = self.starts[line] as usize;
        let end = (offset as usize).min(self.src.len());
        let slice = self.src.get(start..end).unwrap_or("");
        let col = if slice.is_ascii() {
            slice.len()
        } else {
            slice.encode_utf16().count()
        };
        (line as u32 + 1, col as u32)
    }

    /// Width of the leading whitespace of the line containing `offset` (recast's `loc.indent`).
    pub(crate) fn indent_at(&self, offset: u32) -> usize {
        let line = self.line0(offset);
        let start = self.starts[line] as usize;
        leading_width(&self.src[start..])
    }

    pub(crate) fn line_count(&self) -> usize {
        self.starts.len()
    }
}

/// Width of the leading spaces/tabs of `s` (tabs count 4, as recast's default).
fn leading_width(s: &str) -> usize {
    let mut w = 0;
    for b in s.bytes() {
        match b {
            b' ' => w += 1,
            b'\t' => w += 4 - w % 4,
            _ => break,
        }
    }
    w
}

/// Byte length of the leading spaces/tabs of `s`.
fn leading_len(s: &str) -> usize {
    s.bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
}

/// One piece of printed output.
#[derive(Clone, Debug)]
pub(crate) enum Piece {
    /// A byte range of the original source.
    Orig(u32, u32),
    /// Synthesized text.
    New(String),
}

/// Printed output as pieces; original slices keep their link to the source for the map.
#[derive(Clone, Debug, Default)]
pub(crate) struct Doc {
    pub(crate) pieces: Vec<Piece>,
}

impl Doc {
    pub(crate) fn new() -> Self {
        Self { pieces: Vec::new() }
    }

    pub(crate) fn text(s: impl Into<String>) -> Self {
        let mut d = Self::new();
        d.push_str(s);
        d
    }

    pub(crate) fn push_orig(&mut self, start: u32, end: u32) {
        if end <= start {
            return;
        }
        if let Some(Piece::Orig(_, e)) = self.pieces.last_mut()
            && *e == start
        {
            *e = end;
            return;
        }
        self.pieces.push(Piece::Orig(start, end));
    }

    pub(crate) fn push_str(&mut self, s: impl Into<String>) {
        let s = s.into();
        if s.is_empty() {
            return;
        }
        if let Some(Piece::New(t)) = self.pieces.last_mut() {
            t.push_str(&s);
            return;
        }
        self.pieces.push(Piece::New(s));
    }

    pub(crate) fn append(&mut self, other: Doc) {
        for p in other.pieces {
            match p {
                Piece::Orig(a, b) => self.push_orig(a, b),
                Piece::New(s) => self.push_str(s),
            }
        }
    }

    fn piece_str<'a>(p: &'a Piece, src: &'a str) -> &'a str {
        match p {
            Piece::Orig(a, b) => &src[*a as usize..*b as usize],
            Piece::New(s) => s,
        }
    }

    pub(crate) fn render(&self, src: &str) -> String {
        let len = self
            .pieces
            .iter()
            .map(|p| Self::piece_str(p, src).len())
            .sum();
        let mut out = String::with_capacity(len);
        for p in &self.pieces {
            out.push_str(Self::piece_str(p, src));
        }
        out
    }

    /// Length (in chars) of the first line.
    pub(crate) fn first_line_len(&self, src: &str) -> usize {
        let mut n = 0;
        for p in &self.pieces {
            let s = Self::piece_str(p, src);
            match s.find('\n') {
                Some(i) => return n + s[..i].chars().count(),
                None => n += s.chars().count(),
            }
        }
        n
    }

    pub(crate) fn is_multiline(&self, src: &str) -> bool {
        self.pieces
            .iter()
            .any(|p| Self::piece_str(p, src).contains('\n'))
    }

    /// recast `Lines.indentTail(by)`: re-indent every line but the first (empty lines stay empty).
    pub(crate) fn indent_tail(self, by: isize, src: &str) -> Doc {
        if by == 0 {
            return self;
        }
        self.reindent(by, false, src)
    }

    /// recast `Lines.indent(by)`: re-indent every line including the first.
    pub(crate) fn indent(self, by: isize, src: &str) -> Doc {
        if by == 0 {
            return self;
        }
        self.reindent(by, true, src)
    }

    fn reindent(self, by: isize, first: bool, src: &str) -> Doc {
        let mut out = Doc::new();
        let mut at_line_start = first;
        for p in self.pieces {
            let (base, s): (Option<u32>, String) = match &p {
                Piece::Orig(a, b) => (Some(*a), src[*a as usize..*b as usize].to_string()),
                Piece::New(s) => (None, s.clone()),
            };
            let mut pos = 0usize;
            while pos <= s.len() {
                let line_end = s[pos..].find('\n').map(|i| pos + i);
                let seg_end = line_end.unwrap_or(s.len());
                let seg = &s[pos..seg_end];
                let mut start = pos;
                if at_line_start && !seg.is_empty() {
                    let w = leading_width(seg) as isize;
                    let skip = leading_len(seg);
                    let new_w = (w + by).max(0) as usize;
                    out.push_str(" ".repeat(new_w));
                    start = pos + skip;
                }
                let end = match line_end {
                    Some(e) => e + 1,
                    None => s.len(),
                };
                if end > start {
                    match base {
                        Some(b) => out.push_orig(b + start as u32, b + end as u32),
                        None => out.push_str(&s[start..end]),
                    }
                }
                match line_end {
                    Some(e) => {
                        at_line_start = true;
                        pos = e + 1;
                    }
                    None => {
                        if !seg.is_empty() {
                            at_line_start = false;
                        }
                        break;
                    }
                }
            }
        }
        out
    }
}

/// recast's `Lines.guessTabWidth`: the most common indentation step between non-blank lines.
pub(crate) fn guess_tab_width(src: &str) -> usize {
    let mut counts: Vec<usize> = Vec::new();
    let mut last = 0usize;
    for line in src.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let ind = leading_width(line);
        let diff = ind.abs_diff(last);
        if diff >= counts.len() {
            counts.resize(diff + 1, 0);
        }
        counts[diff] += 1;
        last = ind;
    }
    let mut best = 2;
    let mut max = 0usize;
    for (w, c) in counts.iter().enumerate().skip(1) {
        if *c > max {
            max = *c;
            best = w;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_utf16() {
        let src = "ab\ncé😀x";
        let li = LineIndex::new(src);
        assert_eq!(li.line_col(0), (1, 0));
        assert_eq!(li.line_col(3), (2, 0));
        let x = src.find('x').unwrap() as u32;
        assert_eq!(li.line_col(x), (2, 4));
    }

    #[test]
    fn tab_width_guess() {
        assert_eq!(guess_tab_width("fn();"), 2);
        assert_eq!(guess_tab_width("fn(() => {\n    x;\n})"), 4);
        assert_eq!(guess_tab_width("fn(() => {\n  x;\n})"), 2);
    }

    #[test]
    fn indent_tail_keeps_empty_lines() {
        let src = "a\n  b\n\nc";
        let mut d = Doc::new();
        d.push_orig(0, src.len() as u32);
        assert_eq!(d.clone().indent_tail(2, src).render(src), "a\n    b\n\n  c");
        assert_eq!(d.indent_tail(-2, src).render(src), "a\nb\n\nc");
    }
}
