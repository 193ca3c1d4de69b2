//! V8 positions for QuickJS errors (docs/execution.md §7.3). QuickJS records a source position at
//! identifiers and calls only, so a failed property read reports the start of its member chain
//! (`state` in `state.data.missing.length`) and a failed call lands a character or so off.
//! V8, whose positions users and Lightning know, points at the property name of a failed read
//! or method call, at the `[` of a computed read, at the `=` of a failed write, at the callee
//! or the call's `(`, and at `new`. Given the QuickJS position in the compiled job and the
//! (already V8-worded) message, [`v8_column`] parses the job with oxc and finds the expression
//! the error came from: the innermost one of the right kind at that position.
//!
//! Two more rules follow V8's bytecode positions. An error object made by `new X(…)` (any other
//! message) is placed at `new`, where QuickJS places it at `X`. A `ReferenceError` (`x is not
//! defined`) is placed at the identifier unless it is the first thing its statement evaluates:
//! then V8 reports the statement's position (`return`, `throw`, `if`, `switch`, the start of an
//! expression statement or initializer, and for a concise arrow body that expression's own
//! position: a binary operator, a property name…). See [`statements`].

mod statements;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrowFunctionExpression, AssignmentExpression, AssignmentTarget, CallExpression,
    ComputedMemberExpression, Expression, ExpressionStatement, IdentifierReference, IfStatement,
    NewExpression, ReturnStatement, StaticMemberExpression, SwitchStatement, ThrowStatement,
    VariableDeclarator,
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
    /// `x is not defined`.
    NotDefined(String),
    /// Any other message: an error the job made, placed at its `new`.
    Made,
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
    if let Some(name) = message.strip_suffix(" is not defined")
        && !name.is_empty()
        && !name.contains(' ')
    {
        return Some(Failure::NotDefined(name.to_owned()));
    }
    Some(Failure::Made)
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
        contexts: Vec::new(),
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
    /// The statements around the node being visited, innermost last (for `NotDefined`).
    contexts: Vec<statements::Context>,
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
        // `x = 1` with no `x` declared: V8 places it at the operator (offered before the
        // identifier itself, so that this wins the tie)
        if let Failure::NotDefined(name) = self.failure
            && let AssignmentTarget::AssignmentTargetIdentifier(id) = &it.left
            && id.name.as_str() == name
        {
            let end = it.left.span().end as usize;
            let gap = &self.source[end..it.right.span().start as usize];
            let op = gap.find(|c: char| !c.is_whitespace()).unwrap_or(0);
            self.offer(id.span, (end + op) as u32);
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
        match self.failure {
            Failure::New => self.offer(it.span, it.span.start),
            // QuickJS places the error an expression made at the constructor
            Failure::Made => self.offer(it.callee.span(), it.span.start),
            _ => {}
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        if let Failure::NotDefined(name) = self.failure
            && it.name.as_str() == name
        {
            let target = statements::reference_position(&self.contexts, it.span);
            self.offer(it.span, target);
        }
    }

    fn visit_return_statement(&mut self, it: &ReturnStatement<'a>) {
        let ctx = statements::Context::keyword(it.argument.as_ref(), it.span);
        self.within(ctx, |f| walk::walk_return_statement(f, it));
    }

    fn visit_throw_statement(&mut self, it: &ThrowStatement<'a>) {
        let ctx = statements::Context::keyword(Some(&it.argument), it.span);
        self.within(ctx, |f| walk::walk_throw_statement(f, it));
    }

    fn visit_if_statement(&mut self, it: &IfStatement<'a>) {
        let ctx = statements::Context::keyword(Some(&it.test), it.span);
        self.within(ctx, |f| walk::walk_if_statement(f, it));
    }

    fn visit_switch_statement(&mut self, it: &SwitchStatement<'a>) {
        let ctx = statements::Context::keyword(Some(&it.discriminant), it.span);
        self.within(ctx, |f| walk::walk_switch_statement(f, it));
    }

    fn visit_expression_statement(&mut self, it: &ExpressionStatement<'a>) {
        let ctx = statements::Context::leading(&it.expression);
        self.within(ctx, |f| walk::walk_expression_statement(f, it));
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        let ctx = it.init.as_ref().and_then(statements::Context::leading);
        self.within(ctx, |f| walk::walk_variable_declarator(f, it));
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        let ctx = it
            .get_expression()
            .and_then(|e| statements::Context::concise(e, self.source));
        self.within(ctx, |f| walk::walk_arrow_function_expression(f, it));
    }
}

impl Finder<'_> {
    /// Visits with `ctx` as the innermost statement (only needed for `NotDefined`).
    fn within(&mut self, ctx: Option<statements::Context>, visit: impl FnOnce(&mut Self)) {
        let pushed = matches!(self.failure, Failure::NotDefined(_)) && ctx.is_some();
        if let (true, Some(ctx)) = (pushed, ctx) {
            self.contexts.push(ctx);
        }
        visit(self);
        if pushed {
            self.contexts.pop();
        }
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

    /// V8's columns of `nd is not defined` in these bodies, measured with node 20
    /// (`vm.SourceTextModule`, `const fn = async (s) => { <body> };`); QuickJS reports the
    /// identifier (the first `nd`).
    #[test]
    fn reference_errors_at_v8_statement_positions() {
        let prefix = "const fn = async (s) => { ";
        for (body, v8) in [
            ("return nd + 1;", 0),
            ("return nd;", 0),
            ("return nd.x;", 0),
            ("return nd();", 0),
            ("return !nd;", 0),
            ("return await nd;", 0),
            ("return nd ? 1 : 2;", 0),
            ("return `${nd}`;", 0),
            ("return `a${nd}`;", 11),
            ("return (nd);", 0),
            ("return new nd();", 0),
            ("return 1 + nd;", 11),
            ("return s.data + nd;", 16),
            ("return f(nd);", 9),
            ("return [1, nd];", 11),
            ("return {a: nd};", 11),
            ("return s && nd;", 12),
            ("return (s, nd);", 11),
            ("if (nd) return 1;", 0),
            ("throw nd;", 0),
            ("switch (nd) {}", 0),
            ("while (nd) {}", 7),
            ("if (s) { return nd; }", 9),
            ("const y = nd + 1; return y;", 10),
            ("const y = -nd; return y;", 10),
            ("const y = 1, z = nd; return z;", 17),
            ("let y; y = nd + 1; return y;", 7),
            ("nd;", 0),
            ("(nd + 1) * 2;", 0),
            ("nd = 1;", 3),
            ("x.y = nd;", 6),
            ("for (const a of nd) {}", 16),
            ("return (() => nd)();", 14),
        ] {
            let source = format!("{prefix}{body} }};\nawait fn({{}});");
            let at = prefix.len() + body.find("nd").expect("nd");
            let expected = (prefix.len() + v8) as u32 + 1;
            assert_eq!(
                v8_column(&source, 1, at as u32 + 1, "nd is not defined"),
                Some(expected),
                "{body}"
            );
        }
        // a concise arrow body: the implicit return takes the expression's own position
        let prefix = "const fn = async s => ";
        for (body, v8) in [
            ("nd", 0),
            ("nd + 1", 3),
            ("nd /* c */ + 1", 11),
            ("nd.x", 3),
            ("nd.x.y", 5),
            ("nd()", 0),
            ("nd.x()", 3),
            ("nd[0]()", 5),
            ("nd ? 1 : 2", 0),
            ("nd && 1", 3),
            ("(nd, 1)", 5),
            ("nd[0]", 2),
            ("nd`x`", 2),
            ("await nd", 0),
            ("-nd", 0),
            ("(nd + 1) * 2", 9),
            ("nd instanceof Object", 3),
            ("s.x + nd", 6),
        ] {
            let source = format!("{prefix}{body};\nawait fn({{}});");
            let at = prefix.len() + body.find("nd").expect("nd");
            let expected = (prefix.len() + v8) as u32 + 1;
            assert_eq!(
                v8_column(&source, 1, at as u32 + 1, "nd is not defined"),
                Some(expected),
                "{body}"
            );
        }
    }

    /// An error the job makes with `new` (any message): V8 at `new`, QuickJS at the constructor.
    #[test]
    fn made_errors_at_new() {
        let source = "fn(s => { throw new RangeError('out of range'); });";
        assert_eq!(v8_column(source, 1, 21, "out of range"), Some(17));
        let source = "fn(s => { const e = new errors.Custom('x'); throw e; });";
        assert_eq!(v8_column(source, 1, 25, "x"), Some(21));
        // not made by `new` here: QuickJS' position stays
        let source = "fn(s => { throw Error('x'); });";
        assert_eq!(v8_column(source, 1, 17, "x"), None);
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
        assert_eq!(v8_column(source, 2, 11, "other is not defined"), None);
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
