//! The span-splicing printer. Untouched code is copied from the user's source; only nodes a
//! transform created are printed, following recast's layout rules (wrap column 74, statement
//! spacing, inferred indent unit) so the output matches the kit byte for byte.

use crate::text::{Doc, LineIndex};

/// recast's default `wrapColumn`.
const WRAP_COLUMN: usize = 74;

/// A change to the original text, keyed by the byte range it replaces.
pub(crate) struct Edit {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) kind: EditKind,
}

/// A `.catch(handler)` directly on the operation: the catch call's range and the handler's.
pub(crate) type CatchParts = ((u32, u32), Option<(u32, u32)>);

pub(crate) enum EditKind {
    /// Replace the text (e.g. `$` → `state`).
    Replace(&'static str),
    /// Wrap the node in `state => …`.
    Wrap {
        /// Properties of an object literal body (printed generically), if it is one.
        object_props: Option<Vec<(u32, u32)>>,
        /// Parenthesise the arrow (it is a callee).
        parens: bool,
    },
    /// Rewrite a promise chain as `_defer(op, p => chain, catch)`.
    Defer {
        op: (u32, u32),
        /// The catch call directly on the op and its handler.
        catch: Option<CatchParts>,
    },
}

pub(crate) struct Printer<'s> {
    pub(crate) src: &'s str,
    pub(crate) lines: &'s LineIndex<'s>,
    /// Sorted by start ascending, then end descending.
    pub(crate) edits: Vec<Edit>,
    pub(crate) tab: usize,
}

impl<'s> Printer<'s> {
    pub(crate) fn new(
        src: &'s str,
        lines: &'s LineIndex<'s>,
        mut edits: Vec<Edit>,
        tab: usize,
    ) -> Self {
        edits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        Self {
            src,
            lines,
            edits,
            tab,
        }
    }

    fn ind(&self, offset: u32) -> isize {
        self.lines.indent_at(offset) as isize
    }

    /// Original text of `[start, end)` with every edit inside it applied (outermost first).
    /// `skip` excludes one edit (the one being printed); `extra` are one-off replacements
    /// that win over edits of the same range.
    pub(crate) fn render_range(
        &self,
        start: u32,
        end: u32,
        skip: Option<usize>,
        extra: &[(u32, u32, &str)],
    ) -> Doc {
        // (start, end, is_extra (0 first), index)
        let mut cands: Vec<(u32, u32, u8, usize)> = Vec::new();
        for (xi, x) in extra.iter().enumerate() {
            if x.0 >= start && x.1 <= end {
                cands.push((x.0, x.1, 0, xi));
            }
        }
        let mut i = self.edits.partition_point(|e| e.start < start);
        while i < self.edits.len() && self.edits[i].start < end {
            let e = &self.edits[i];
            if e.end <= end && Some(i) != skip {
                cands.push((e.start, e.end, 1, i));
            }
            i += 1;
        }
        cands.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)).then(b.1.cmp(&a.1)));
        let mut doc = Doc::new();
        let mut cursor = start;
        for (s, e, kind, idx) in cands {
            if s < cursor {
                continue;
            }
            doc.push_orig(cursor, s);
            if kind == 0 {
                doc.push_str(extra[idx].2);
            } else {
                doc.append(self.render_edit(idx));
            }
            cursor = e;
        }
        doc.push_orig(cursor, end);
        doc
    }

    /// A node reused in a new context: its text with edits, tail de-indented (recast
    /// `indentTail(-loc.indent)`).
    pub(crate) fn reuse(&self, start: u32, end: u32) -> Doc {
        self.render_range(start, end, None, &[])
            .indent_tail(-self.ind(start), self.src)
    }

    fn render_edit(&self, idx: usize) -> Doc {
        let e = &self.edits[idx];
        match &e.kind {
            EditKind::Replace(s) => Doc::text(*s),
            EditKind::Wrap {
                object_props,
                parens,
            } => {
                let ind = self.ind(e.start);
                let mut doc = Doc::new();
                if *parens {
                    doc.push_str("(");
                }
                doc.push_str("state => ");
                match object_props {
                    Some(props) => {
                        doc.push_str("(");
                        doc.append(self.print_object(props));
                        doc.push_str(")");
                    }
                    None => {
                        doc.append(
                            self.render_range(e.start, e.end, Some(idx), &[])
                                .indent_tail(-ind, self.src),
                        );
                    }
                }
                if *parens {
                    doc.push_str(")");
                }
                doc.indent_tail(ind, self.src)
            }
            EditKind::Defer { op, catch } => {
                let ind = self.ind(e.start);
                let mut args = vec![self.reuse(op.0, op.1)];
                let chain_with = |r: (u32, u32)| {
                    let mut d = Doc::text("p => ");
                    d.append(
                        self.render_range(e.start, e.end, Some(idx), &[(r.0, r.1, "p")])
                            .indent_tail(-ind, self.src),
                    );
                    d
                };
                match catch {
                    Some((call, handler)) => {
                        if call.0 == e.start && call.1 == e.end {
                            args.push(Doc::text("undefined"));
                        } else {
                            args.push(chain_with(*call));
                        }
                        args.push(match handler {
                            Some(h) => self.reuse(h.0, h.1),
                            None => Doc::text("undefined"),
                        });
                    }
                    None => args.push(chain_with(*op)),
                }
                let mut doc = Doc::text("_defer");
                doc.append(self.print_args(args));
                doc.indent_tail(ind, self.src)
            }
        }
    }

    /// recast's argument list: `(a, b)`, or one per line when the first line is too long.
    pub(crate) fn print_args(&self, args: Vec<Doc>) -> Doc {
        let joined = join(&args, ", ");
        if joined.first_line_len(self.src) > WRAP_COLUMN {
            let mut d = Doc::text("(\n");
            d.append(join(&args, ",\n").indent(self.tab as isize, self.src));
            d.push_str("\n)");
            d
        } else {
            let mut d = Doc::text("(");
            d.append(joined);
            d.push_str(")");
            d
        }
    }

    /// recast's array literal.
    pub(crate) fn print_array(&self, elems: Vec<Doc>) -> Doc {
        let joined = join(&elems, ", ");
        if joined.first_line_len(self.src) <= WRAP_COLUMN {
            let mut d = Doc::text("[");
            d.append(joined);
            d.push_str("]");
            return d;
        }
        let mut d = Doc::text("[\n");
        let n = elems.len();
        for (i, el) in elems.into_iter().enumerate() {
            d.append(el.indent(self.tab as isize, self.src));
            if i + 1 < n {
                d.push_str(",");
            }
            d.push_str("\n");
        }
        d.push_str("]");
        d
    }

    /// recast's generic object literal (properties reused from the source).
    fn print_object(&self, props: &[(u32, u32)]) -> Doc {
        if props.is_empty() {
            return Doc::text("{}");
        }
        let mut d = Doc::text("{\n");
        let mut allow_break = false;
        let n = props.len();
        for (i, p) in props.iter().enumerate() {
            let lines = self.reuse(p.0, p.1).indent(self.tab as isize, self.src);
            let multi = lines.is_multiline(self.src);
            if multi && allow_break {
                d.push_str("\n");
            }
            d.append(lines);
            if i + 1 < n {
                d.push_str(if multi { ",\n\n" } else { ",\n" });
                allow_break = !multi;
            }
        }
        d.push_str("\n}");
        d
    }
}

fn join(docs: &[Doc], sep: &str) -> Doc {
    let mut d = Doc::new();
    for (i, x) in docs.iter().enumerate() {
        if i > 0 {
            d.push_str(sep);
        }
        d.append(x.clone());
    }
    d
}

/// One top-level statement of the printed program.
pub(crate) struct Stmt {
    pub(crate) doc: Doc,
    /// True location in the source (including attached comments) for original statements.
    pub(crate) loc: Option<(u32, u32)>,
}

fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

impl Printer<'_> {
    fn leading_gap(&self, start: u32) -> usize {
        let before = &self.src[..start as usize];
        let trimmed = before.trim_end_matches(is_js_space);
        let prev_line = if trimmed.is_empty() {
            0
        } else {
            self.lines.line0(trimmed.len() as u32)
        };
        self.lines.line0(start).saturating_sub(prev_line)
    }

    fn trailing_gap(&self, end: u32) -> usize {
        let after = &self.src[end as usize..];
        let trimmed = after.trim_start_matches(is_js_space);
        let next_line = if trimmed.is_empty() {
            self.lines.line_count() - 1
        } else {
            self.lines.line0((self.src.len() - trimmed.len()) as u32)
        };
        next_line.saturating_sub(self.lines.line0(end))
    }

    /// recast `printStatementSequence`.
    pub(crate) fn print_statements(&self, stmts: Vec<Stmt>) -> Doc {
        let mut out = Doc::new();
        let n = stmts.len();
        let mut prev_trailing: Option<usize> = None;
        for (i, s) in stmts.into_iter().enumerate() {
            let multi = s.doc.is_multiline(self.src);
            let new_space = if multi { 2 } else { 1 };
            let leading = if i == 0 {
                0
            } else {
                match s.loc {
                    Some((a, _)) => self.leading_gap(a),
                    None => new_space,
                }
            };
            let trailing = if i + 1 < n {
                match s.loc {
                    Some((_, b)) => self.trailing_gap(b),
                    None => new_space,
                }
            } else {
                0
            };
            let space = prev_trailing.unwrap_or(0).max(leading);
            out.push_str("\n".repeat(space));
            out.append(s.doc);
            prev_trailing = Some(trailing);
        }
        out
    }
}
