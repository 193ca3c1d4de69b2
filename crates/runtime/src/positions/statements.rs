//! Where V8 places a `ReferenceError` (`x is not defined`). V8 gives each statement a position
//! and each variable load its own; the first bytecode after a statement's position keeps the
//! statement's, so a reference evaluated before anything else in its statement is reported at
//! the statement: `return x + 1` at `return`, `s => x + 1` at `+`, but `return 1 + x` at `x`.
//! Measured with node 20 (`vm.SourceTextModule`, as the kit runs jobs); see the tests in
//! `positions.rs`.

use oxc_ast::ast::{AssignmentTarget, ChainElement, Expression};
use oxc_span::{GetSpan, Span};

/// A statement (or a concise arrow body) around the reference being looked for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Context {
    /// The reference its expression evaluates first, if that is a plain identifier.
    first: Option<Span>,
    /// V8's position of the statement (byte offset).
    target: u32,
}

impl Context {
    /// `return e`, `throw e`, `if (e)`, `switch (e)`: the keyword.
    pub(super) fn keyword(expr: Option<&Expression<'_>>, statement: Span) -> Option<Context> {
        Some(Context {
            first: expr.and_then(first_reference),
            target: statement.start,
        })
    }

    /// An expression statement or a declarator's initializer: where the expression starts.
    pub(super) fn leading(expr: &Expression<'_>) -> Option<Context> {
        Some(Context {
            first: first_reference(expr),
            target: expr.span().start,
        })
    }

    /// The body of `s => e`: the implicit `return` takes `e`'s own position.
    pub(super) fn concise(expr: &Expression<'_>, source: &str) -> Option<Context> {
        Some(Context {
            first: first_reference(expr),
            target: expression_position(expr, source),
        })
    }
}

/// V8's position for an undefined reference at `reference`, given the statements around it
/// (innermost last).
pub(super) fn reference_position(contexts: &[Context], reference: Span) -> u32 {
    match contexts.last() {
        Some(ctx) if ctx.first == Some(reference) => ctx.target,
        _ => reference.start,
    }
}

/// The identifier `expr` evaluates before anything else, if any (iterative: chains can be
/// long).
fn first_reference(expr: &Expression<'_>) -> Option<Span> {
    let mut e = expr;
    loop {
        e = match e {
            Expression::Identifier(id) => return Some(id.span),
            Expression::BinaryExpression(b) => &b.left,
            Expression::LogicalExpression(l) => &l.left,
            Expression::UnaryExpression(u) => &u.argument,
            Expression::AwaitExpression(a) => &a.argument,
            Expression::StaticMemberExpression(m) => &m.object,
            Expression::ComputedMemberExpression(m) => &m.object,
            Expression::PrivateFieldExpression(m) => &m.object,
            Expression::CallExpression(c) => &c.callee,
            Expression::NewExpression(n) => &n.callee,
            Expression::TaggedTemplateExpression(t) => &t.tag,
            Expression::ConditionalExpression(c) => &c.test,
            // `y = e` evaluates `e` first (`y` is not loaded), `o.k = e` loads `o` first
            Expression::AssignmentExpression(a) => match &a.left {
                AssignmentTarget::AssignmentTargetIdentifier(_) => &a.right,
                AssignmentTarget::StaticMemberExpression(m) => &m.object,
                AssignmentTarget::ComputedMemberExpression(m) => &m.object,
                _ => return None,
            },
            Expression::ParenthesizedExpression(p) => &p.expression,
            Expression::SequenceExpression(s) => s.expressions.first()?,
            // a leading string part is loaded first
            Expression::TemplateLiteral(t)
                if t.quasis.first().is_some_and(|q| q.value.raw.is_empty()) =>
            {
                t.expressions.first()?
            }
            Expression::ChainExpression(c) => match &c.expression {
                ChainElement::CallExpression(call) => &call.callee,
                ChainElement::StaticMemberExpression(m) => &m.object,
                ChainElement::ComputedMemberExpression(m) => &m.object,
                _ => return None,
            },
            _ => return None,
        };
    }
}

/// V8's own position of an expression: the operator of a binary or assignment expression, the
/// property of a member read, the `[` of a computed one, a call's callee property or `(`, the
/// template of a tagged template, the last of a sequence; else where it starts.
fn expression_position(expr: &Expression<'_>, source: &str) -> u32 {
    let mut e = expr;
    loop {
        e = match e {
            Expression::ParenthesizedExpression(p) => &p.expression,
            Expression::SequenceExpression(s) => match s.expressions.last() {
                Some(last) => last,
                None => return e.span().start,
            },
            Expression::BinaryExpression(b) => return after(source, b.left.span().end),
            Expression::LogicalExpression(l) => return after(source, l.left.span().end),
            Expression::AssignmentExpression(a) => return after(source, a.left.span().end),
            Expression::StaticMemberExpression(m) => return m.property.span.start,
            Expression::ComputedMemberExpression(m) => return after(source, m.object.span().end),
            Expression::TaggedTemplateExpression(t) => return t.quasi.span.start,
            Expression::CallExpression(c) => {
                return match &c.callee {
                    Expression::StaticMemberExpression(m) => m.property.span.start,
                    Expression::Identifier(id) => id.span.start,
                    callee => after(source, callee.span().end),
                };
            }
            _ => return e.span().start,
        };
    }
}

/// The first byte at or after `from` that is not whitespace or a comment.
fn after(source: &str, from: u32) -> u32 {
    let bytes = source.as_bytes();
    let mut i = from as usize;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = source[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
            }
            _ => break,
        }
    }
    i as u32
}
