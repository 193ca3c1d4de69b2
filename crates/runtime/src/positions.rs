//! V8 positions for QuickJS errors (docs/execution.md §7.3). QuickJS records a source position at
//! identifiers and calls only, so a failed property read reports the start of its member chain
//! (`state` in `state.data.missing.length`) and a failed call lands a character or so off.
//! V8, whose positions users and Lightning know, points at the property name of a failed read
//! or method call, at the `[` of a computed read, at the `=` of a failed write, at the callee
//! or the call's `(`, and at `new`. Given the QuickJS position in the compiled job and the
//! (already V8-worded) message, [`v8_column`] parses the job with oxc and finds the expression
//! the error came from: the innermost one of the right kind at that position.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    AssignmentExpression, AssignmentTarget, CallExpression, ComputedMemberExpression, Expression,
    NewExpression, StaticMemberExpression,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType, Span};

/// What the error message says failed.
#[derive(Debug, PartialEq)]
enum Failure {
    /// `Cannot read properties of undefined (reading 'x')`.
    Read(String),
    /// `Cannot set properties of undefined (setting 'x')`.
    Write(String),
    /// `x is not a function`.
    Call,
    /// `x is not a constructor`.
    New,
}

fn failure(message: &str) -> Option<Failure> {
    let quoted = |rest: &str, verb: &str| -> Option<String> {
        let rest = rest
            .strip_prefix("undefined")
            .or_else(|| rest.strip_prefix("null"))?;
        let name = rest
            .strip_prefix(&format!(" ({verb} '"))?
            .strip_suffix("')")?;
        Some(name.to_string())
    };
    if let Some(rest) = message.strip_prefix("Cannot read properties of ") {
        return quoted(rest, "reading").map(Failure::Read);
    }
    if let Some(rest) = message.strip_prefix("Cannot set properties of ") {
        return quoted(rest, "setting").map(Failure::Write);
    }
    if message.ends_with(" is not a function") {
        return Some(Failure::Call);
    }
    if message.ends_with(" is not a constructor") {
        return Some(Failure::New);
    }
    None
}

/// The V8 column (1-based) for an error QuickJS placed at `line`:`column` (1-based, bytes) of
/// the compiled job `source`, or `None` to keep QuickJS' position (no such expression found,
/// or a message this does not know).
pub(crate) fn v8_column(source: &str, line: u32, column: u32, message: &str) -> Option<u32> {
    let failure = failure(message)?;
    let line_start = line_offset(source, line)?;
    let at = line_start + column.checked_sub(1)? as usize;
    if at > source.len() {
        return None;
    }
    let alloc = Allocator::default();
    let parsed = Parser::new(&alloc, source, SourceType::mjs()).parse();
    if parsed.panicked {
        return None;
    }
    let mut finder = Finder {
        source,
        failure: &failure,
        at: at as u32,
        best: None,
    };
    finder.visit_program(&parsed.program);
    let (_, target) = finder.best?;
    let target = target as usize;
    // the target must be on the same line for a column to make sense
    let target_line_start = source[..target].rfind('\n').map_or(0, |i| i + 1);
    if target_line_start != line_start {
        return None;
    }
    Some((target - line_start) as u32 + 1)
}

/// Byte offset where 1-based `line` starts.
fn line_offset(source: &str, line: u32) -> Option<usize> {
    if line == 0 {
        return None;
    }
    if line == 1 {
        return Some(0);
    }
    source
        .match_indices('\n')
        .nth(line as usize - 2)
        .map(|(i, _)| i + 1)
}

struct Finder<'s> {
    source: &'s str,
    failure: &'s Failure,
    /// The QuickJS position (byte offset).
    at: u32,
    /// The best candidate so far: (its rank, the V8 position as a byte offset).
    best: Option<((u32, u32), u32)>,
}

impl Finder<'_> {
    /// Offer an expression spanning `span` whose error V8 reports at `target`. Candidates that
    /// contain the QuickJS position win, the innermost first; else the nearest within two bytes
    /// (QuickJS puts a failed plain call one before its callee).
    fn offer(&mut self, span: Span, target: u32) {
        let distance = if span.start <= self.at && self.at < span.end {
            0
        } else if self.at < span.start {
            span.start - self.at
        } else {
            self.at + 1 - span.end
        };
        if distance > 2 {
            return;
        }
        let rank = (distance, span.end - span.start);
        if self.best.is_none_or(|(best, _)| rank < best) {
            self.best = Some((rank, target));
        }
    }

    /// The first `ch` at or after byte `from`, skipping whitespace and comments only.
    fn next_char(&self, from: u32, ch: u8) -> Option<u32> {
        let bytes = self.source.as_bytes();
        let mut i = from as usize;
        while i < bytes.len() {
            match bytes[i] {
                b if b == ch => return Some(i as u32),
                b' ' | b'\t' | b'\r' | b'\n' => i += 1,
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    i = self.source[i + 2..]
                        .find("*/")
                        .map_or(bytes.len(), |e| i + 2 + e + 2);
                }
                _ => return None,
            }
        }
        None
    }

    fn computed_key_is(&self, it: &ComputedMemberExpression<'_>, name: &str) -> bool {
        match &it.expression {
            Expression::StringLiteral(s) => s.value.as_str() == name,
            Expression::NumericLiteral(n) => n.value.to_string() == name,
            Expression::TemplateLiteral(t) if t.expressions.is_empty() => t
                .quasis
                .first()
                .is_some_and(|q| q.value.raw.as_str() == name),
            // a key only known at run time may be the one
            _ => true,
        }
    }
}

impl<'a> Visit<'a> for Finder<'_> {
    fn visit_static_member_expression(&mut self, it: &StaticMemberExpression<'a>) {
        if let Failure::Read(name) = self.failure
            && it.property.name.as_str() == name
        {
            self.offer(it.span, it.property.span.start);
        }
        walk::walk_static_member_expression(self, it);
    }

    fn visit_computed_member_expression(&mut self, it: &ComputedMemberExpression<'a>) {
        if let Failure::Read(name) = self.failure
            && self.computed_key_is(it, name)
            && let Some(bracket) = self.next_char(it.object.span().end, b'[')
        {
            self.offer(it.span, bracket);
        }
        walk::walk_computed_member_expression(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if let Failure::Write(name) = self.failure {
            let property = match &it.left {
                AssignmentTarget::StaticMemberExpression(m) => {
                    Some(m.property.name.as_str() == name)
                }
                AssignmentTarget::ComputedMemberExpression(m) => {
                    Some(self.computed_key_is(m, name))
                }
                _ => None,
            };
            if property == Some(true) {
                let end = it.left.span().end as usize;
                let gap = &self.source[end..it.right.span().start as usize];
                let op = gap.find(|c: char| !c.is_whitespace()).unwrap_or(0);
                self.offer(it.left.span(), (end + op) as u32);
            }
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if *self.failure == Failure::Call {
            let target = match &it.callee {
                Expression::StaticMemberExpression(m) => Some(m.property.span.start),
                Expression::Identifier(id) => Some(id.span.start),
                callee => self.next_char(callee.span().end, b'('),
            };
            if let Some(target) = target {
                self.offer(it.callee.span(), target);
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if *self.failure == Failure::New {
            self.offer(it.span, it.span.start);
        }
        walk::walk_new_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// V8's columns for these, measured with node 20 (`function job(state) { const nofn = 1;
    /// return <expr>; }`), against the positions QuickJS gives.
    #[test]
    fn matches_v8_columns() {
        let prefix = "function job(state) { const nofn = 1; return ";
        let base = prefix.len() as u32 + 1;
        for (expr, quickjs, v8, message) in [
            (
                "state.data.missing.length",
                0,
                19,
                "Cannot read properties of undefined (reading 'length')",
            ),
            (
                "state.nope.x",
                0,
                11,
                "Cannot read properties of undefined (reading 'x')",
            ),
            ("state.data.f()", 10, 11, "state.data.f is not a function"),
            (
                "state.data.missing.f()",
                0,
                19,
                "Cannot read properties of undefined (reading 'f')",
            ),
            ("nofn()", -1, 0, "nofn is not a function"),
            (
                "state.data.missing['k']",
                0,
                18,
                "Cannot read properties of undefined (reading 'k')",
            ),
            (
                "state.data.missing[0]",
                0,
                18,
                "Cannot read properties of undefined (reading '0')",
            ),
            ("new state.data()", 4, 0, "state.data is not a constructor"),
            (
                "(state.data.missing).x",
                1,
                21,
                "Cannot read properties of undefined (reading 'x')",
            ),
            (
                "state.data.missing.x = 1",
                0,
                21,
                "Cannot set properties of undefined (setting 'x')",
            ),
            (
                "state.data.missing['x'] = 1",
                0,
                24,
                "Cannot set properties of undefined (setting 'x')",
            ),
            (
                "state.data.a.b()",
                12,
                13,
                "state.data.a.b is not a function",
            ),
            ("state.data['f']()", 5, 15, "state.data.f is not a function"),
            (
                "(0, state.data.f)()",
                14,
                17,
                "(0 , state.data.f) is not a function",
            ),
        ] {
            let source = format!("{prefix}{expr}; }}\njob({{}});");
            let qcol = (base as i32 + quickjs) as u32;
            assert_eq!(
                v8_column(&source, 1, qcol, message),
                Some(base + v8),
                "{expr}"
            );
        }
    }

    #[test]
    fn second_line_and_unknown_messages() {
        let source = "const a = 1;\nconst x = state.data.missing.length;";
        assert_eq!(
            v8_column(
                source,
                2,
                11,
                "Cannot read properties of undefined (reading 'length')"
            ),
            Some(30)
        );
        assert_eq!(v8_column(source, 2, 11, "boom"), None);
        assert_eq!(
            v8_column(
                source,
                2,
                11,
                "Cannot read properties of undefined (reading 'other')"
            ),
            None
        );
        assert_eq!(v8_column(source, 9, 1, "x is not a function"), None);
        assert_eq!(v8_column("(((", 1, 1, "x is not a function"), None);
    }
}
