//! One walk over the oxc AST that gathers everything the transforms need: `$` member chains
//! (lazy state) with their wrap target or error, top-scope `.then`/`.catch` chains (promises),
//! and identifier references with the scope they sit in (add-imports).
//!
//! Scoping follows ast-types (what the kit uses), not the ECMAScript rules: scopes are made only
//! by the program, functions, arrows and catch clauses, and every declaration (`var`, `let`,
//! `const`, `class`, `function`, imports) is hoisted to the nearest such scope.

use std::collections::HashSet;

use oxc_ast::AstKind;
use oxc_ast::ast::{
    Argument, ArrowFunctionExpression, BindingIdentifier, CallExpression, CatchClause, Class,
    Expression, Function, IdentifierReference, ObjectExpression, Program, PropertyKey,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::{GetSpan, Span};
use oxc_syntax::scope::ScopeFlags;

/// A scope in the ast-types sense.
pub(crate) struct Scope<'a> {
    pub(crate) parent: Option<usize>,
    pub(crate) names: HashSet<&'a str>,
    /// The catch-clause scope only holds its parameter; declarations go to the function.
    is_catch: bool,
}

/// What lazy-state decided for one `$` chain (applied only if `$` is not shadowed).
pub(crate) enum DollarOutcome {
    /// Wrap this node in `state => …` (already-correct arrows produce `Keep`).
    Wrap(WrapTarget),
    /// The node is already an arrow with a `state` parameter.
    Keep,
    /// A lazy-state error at a byte range.
    Error {
        message: String,
        details: Option<&'static str>,
        span: Span,
    },
}

#[derive(Clone)]
pub(crate) struct WrapTarget {
    pub(crate) span: Span,
    /// Object literal argument: printed as `state => ({ … })` by the generic printer.
    pub(crate) object_props: Option<Vec<Span>>,
    /// The callee of a call: needs parentheses once it is an arrow.
    pub(crate) is_callee: bool,
}

pub(crate) struct DollarChain {
    /// The `$` identifier.
    pub(crate) dollar: Span,
    pub(crate) scope: usize,
    pub(crate) outcome: DollarOutcome,
}

/// A top-scope promise chain `op(...).then(...)…` to rewrite with `_defer`.
pub(crate) struct PromiseChain {
    /// The whole chain (the outermost `.then`/`.catch` call).
    pub(crate) expr: Span,
    /// The underlying operation call.
    pub(crate) op: Span,
    /// A `.catch` directly attached to the op: (the catch call, its first argument).
    pub(crate) catch: Option<(Span, Option<Span>)>,
}

/// An identifier reference that may be dangling.
pub(crate) struct Reference<'a> {
    pub(crate) name: &'a str,
    pub(crate) span: Span,
    pub(crate) scope: usize,
    /// Index of the top-level statement (directives first, then body) it belongs to.
    pub(crate) top: usize,
}

pub(crate) struct Analysis<'a> {
    pub(crate) scopes: Vec<Scope<'a>>,
    pub(crate) dollars: Vec<DollarChain>,
    pub(crate) promises: Vec<PromiseChain>,
    pub(crate) refs: Vec<Reference<'a>>,
    /// A syntax error acorn reports while parsing but oxc leaves to semantic analysis.
    pub(crate) syntax_error: Option<(String, u32)>,
}

/// Words reserved in strict (module) code that acorn rejects as binding names.
const STRICT_RESERVED: &[&str] = &[
    "let",
    "static",
    "implements",
    "interface",
    "package",
    "private",
    "protected",
    "public",
    "yield",
    "await",
    "eval",
    "arguments",
];

struct Walker<'a> {
    syntax_error: Option<(String, u32)>,
    stack: Vec<AstKind<'a>>,
    scopes: Vec<Scope<'a>>,
    scope_stack: Vec<usize>,
    /// Set while visiting a catch parameter: bindings go to the catch scope.
    catch_param: Option<usize>,
    dollars: Vec<DollarChain>,
    promises: Vec<PromiseChain>,
    refs: Vec<Reference<'a>>,
    top: usize,
    /// Depth inside an already-recorded promise chain (nested chains are left alone).
    in_chain: usize,
}

pub(crate) fn analyze<'a>(program: &Program<'a>) -> Analysis<'a> {
    let mut w = Walker {
        syntax_error: None,
        stack: Vec::with_capacity(64),
        scopes: vec![Scope {
            parent: None,
            names: HashSet::new(),
            is_catch: false,
        }],
        scope_stack: vec![0],
        catch_param: None,
        dollars: Vec::new(),
        promises: Vec::new(),
        refs: Vec::new(),
        top: 0,
        in_chain: 0,
    };
    w.stack.push(AstKind::Program(w.alloc(program)));
    let n_dir = program.directives.len();
    for (i, d) in program.directives.iter().enumerate() {
        w.top = i;
        w.visit_directive(d);
    }
    for (i, s) in program.body.iter().enumerate() {
        w.top = n_dir + i;
        w.visit_statement(s);
    }
    Analysis {
        scopes: w.scopes,
        dollars: w.dollars,
        promises: w.promises,
        refs: w.refs,
        syntax_error: w.syntax_error,
    }
}

impl<'a> Analysis<'a> {
    /// Whether `name` is declared in `scope` or any parent (`skip_root`: ignore the program).
    pub(crate) fn declared(&self, mut scope: usize, name: &str, skip_root: bool) -> bool {
        loop {
            let s = &self.scopes[scope];
            if s.parent.is_none() && skip_root {
                return false;
            }
            if s.names.contains(name) {
                return true;
            }
            match s.parent {
                Some(p) => scope = p,
                None => return false,
            }
        }
    }
}

fn member_object<'b, 'a>(kind: &AstKind<'a>) -> Option<&'b Expression<'a>>
where
    'a: 'b,
{
    match kind {
        AstKind::StaticMemberExpression(m) => Some(&m.object),
        AstKind::ComputedMemberExpression(m) => Some(&m.object),
        AstKind::PrivateFieldExpression(m) => Some(&m.object),
        _ => None,
    }
}

/// Statement or Declaration in the ast-types sense.
fn is_statement(kind: &AstKind<'_>) -> bool {
    match kind {
        AstKind::Function(f) => f.is_declaration(),
        AstKind::Class(c) => c.is_declaration(),
        AstKind::BlockStatement(_)
        | AstKind::FunctionBody(_)
        | AstKind::VariableDeclaration(_)
        | AstKind::EmptyStatement(_)
        | AstKind::ExpressionStatement(_)
        | AstKind::IfStatement(_)
        | AstKind::DoWhileStatement(_)
        | AstKind::WhileStatement(_)
        | AstKind::ForStatement(_)
        | AstKind::ForInStatement(_)
        | AstKind::ForOfStatement(_)
        | AstKind::ContinueStatement(_)
        | AstKind::BreakStatement(_)
        | AstKind::ReturnStatement(_)
        | AstKind::WithStatement(_)
        | AstKind::SwitchStatement(_)
        | AstKind::LabeledStatement(_)
        | AstKind::ThrowStatement(_)
        | AstKind::TryStatement(_)
        | AstKind::DebuggerStatement(_)
        | AstKind::ImportDeclaration(_)
        | AstKind::ExportNamedDeclaration(_)
        | AstKind::ExportDeclaration(_)
        | AstKind::ExportFromDeclaration(_)
        | AstKind::ExportDefaultDeclaration(_)
        | AstKind::ExportAllDeclaration(_)
        | AstKind::StaticBlock(_)
        | AstKind::Program(_) => true,
        _ => false,
    }
}

/// `x.then` / `x.catch` callee: the object and the property name.
pub(crate) fn then_catch<'b, 'a>(
    callee: &'b Expression<'a>,
) -> Option<(&'b Expression<'a>, &'b str)> {
    if let Expression::StaticMemberExpression(m) = callee {
        let name = m.property.name.as_str();
        if name == "then" || name == "catch" {
            return Some((&m.object, name));
        }
    }
    None
}

impl<'a> Walker<'a> {
    fn cur_scope(&self) -> usize {
        *self.scope_stack.last().unwrap_or(&0)
    }

    /// Nearest function/program scope (where ast-types hoists declarations).
    fn decl_scope(&self) -> usize {
        for &s in self.scope_stack.iter().rev() {
            if !self.scopes[s].is_catch {
                return s;
            }
        }
        0
    }

    fn push_scope(&mut self, is_catch: bool) -> usize {
        let id = self.scopes.len();
        self.scopes.push(Scope {
            parent: Some(self.cur_scope()),
            names: HashSet::new(),
            is_catch,
        });
        self.scope_stack.push(id);
        id
    }

    fn pop_scope(&mut self) {
        self.scope_stack.pop();
    }

    /// kit `IgnoreRules`: an object literal initialising a top-level variable is skipped.
    fn ignored_object(&self) -> bool {
        let n = self.stack.len();
        n >= 3
            && matches!(self.stack[n - 1], AstKind::VariableDeclarator(_))
            && matches!(self.stack[n - 2], AstKind::VariableDeclaration(_))
            && matches!(self.stack[n - 3], AstKind::Program(_))
    }

    fn top_scope(&self) -> bool {
        !self.stack.iter().any(|k| {
            matches!(
                k,
                AstKind::ArrowFunctionExpression(_)
                    | AstKind::Function(_)
                    | AstKind::BlockStatement(_)
                    | AstKind::FunctionBody(_)
                    | AstKind::StaticBlock(_)
            )
        })
    }

    /// A member expression is being entered (it is on top of the stack).
    fn on_member(&mut self) {
        let n = self.stack.len();
        let me = self.stack[n - 1];
        // Only the outermost member of a pure member chain.
        if let Some(parent) = self.stack.get(n.wrapping_sub(2))
            && let Some(obj) = member_object(parent)
            && obj.span() == me.span()
        {
            return;
        }
        // Root of the chain.
        let mut obj = match member_object(&me) {
            Some(o) => o,
            None => return,
        };
        loop {
            match obj {
                Expression::StaticMemberExpression(m) => obj = &m.object,
                Expression::ComputedMemberExpression(m) => obj = &m.object,
                Expression::PrivateFieldExpression(m) => obj = &m.object,
                _ => break,
            }
        }
        let dollar = match obj {
            Expression::Identifier(id) if id.name == "$" => id.span,
            _ => return,
        };
        let outcome = self.lazy_outcome(me.span());
        self.dollars.push(DollarChain {
            dollar,
            scope: self.cur_scope(),
            outcome,
        });
    }

    fn lazy_outcome(&self, member: Span) -> DollarOutcome {
        let n = self.stack.len();
        let mut last = n - 1;
        let mut i = n - 1;
        let call = loop {
            if i == 0 {
                return DollarOutcome::Error {
                    message: "must be passed as an argument to an operator".into(),
                    details: None,
                    span: member,
                };
            }
            i -= 1;
            let k = &self.stack[i];
            if let AstKind::CallExpression(c) = k {
                break *c;
            }
            if is_statement(k) {
                return DollarOutcome::Error {
                    message: "Must be inside an operation".into(),
                    details: Some(
                        "The Lazy State operation must be used inside a top-level operation, like fn(). It cannot be used inside a regular JavaScript statement because no valid state reference is available.",
                    ),
                    span: member,
                };
            }
            if matches!(
                k,
                AstKind::FormalParameters(_) | AstKind::FormalParameter(_)
            ) {
                continue;
            }
            last = i;
        };
        let arg_kind = self.stack[last];
        // A method call on state (`$.fn(...)`): wrap the call itself.
        let state_method = match &call.callee {
            Expression::StaticMemberExpression(m) => {
                matches!(&m.object, Expression::Identifier(id) if id.name == "$" || id.name == "state")
            }
            Expression::ComputedMemberExpression(m) => {
                matches!(&m.object, Expression::Identifier(id) if id.name == "$" || id.name == "state")
            }
            _ => false,
        };
        if state_method {
            let is_callee = self.stack[..i].last().is_some_and(|p| match p {
                AstKind::CallExpression(pc) => pc.callee.span() == call.span,
                _ => false,
            });
            return DollarOutcome::Wrap(WrapTarget {
                span: call.span,
                object_props: None,
                is_callee,
            });
        }
        if let AstKind::ArrowFunctionExpression(arrow) = arg_kind {
            return open_function(arrow);
        }
        let object_props = match arg_kind {
            AstKind::ObjectExpression(o) => Some(o.properties.iter().map(GetSpan::span).collect()),
            _ => None,
        };
        DollarOutcome::Wrap(WrapTarget {
            span: arg_kind.span(),
            object_props,
            is_callee: call.callee.span() == arg_kind.span(),
        })
    }

    fn on_call(&mut self, call: &CallExpression<'a>) -> bool {
        if self.in_chain > 0 || then_catch(&call.callee).is_none() || !self.top_scope() {
            return false;
        }
        // Walk down to the operation.
        let mut calls: Vec<&CallExpression<'a>> = vec![call];
        let op = loop {
            let Some(next) = calls.last().copied() else {
                return false;
            };
            match &next.callee {
                Expression::Identifier(_) => break next,
                callee => match then_catch(callee) {
                    Some((Expression::CallExpression(c), _)) => calls.push(c),
                    Some(_) => return false,
                    None if callee.is_member_expression() => break next,
                    None => return false,
                },
            }
        };
        let k = calls.len() - 1;
        let catch = if k >= 1 {
            let parent = calls[k - 1];
            match then_catch(&parent.callee) {
                Some((_, "catch")) => {
                    Some((parent.span, parent.arguments.first().map(Argument::span)))
                }
                _ => None,
            }
        } else {
            None
        };
        self.promises.push(PromiseChain {
            expr: call.span,
            op: op.span,
            catch,
        });
        true
    }

    fn on_reference(&mut self, it: &IdentifierReference<'a>) {
        let name = it.name.as_str();
        if name == "undefined" || name == "NaN" {
            return;
        }
        let n = self.stack.len();
        // stack[n-1] is this reference.
        // Member-chain rule: a reference that is (part of) the property of a member is not free.
        let mut target = it.span;
        let mut i = n - 1;
        while i > 0 {
            i -= 1;
            match &self.stack[i] {
                AstKind::ComputedMemberExpression(m) => {
                    if m.expression.span() == target {
                        return;
                    }
                    target = m.span;
                }
                AstKind::StaticMemberExpression(m) => target = m.span,
                AstKind::PrivateFieldExpression(m) => target = m.span,
                _ => break,
            }
        }
        // Property rule: `{ a }`, `{ a: a }`, `({ a } = x)` — a key of the same name.
        if n >= 2 {
            match &self.stack[n - 2] {
                AstKind::ObjectProperty(p) => {
                    let same = match &p.key {
                        PropertyKey::StaticIdentifier(k) => k.name == name,
                        PropertyKey::Identifier(k) => k.name == name,
                        _ => false,
                    };
                    if same {
                        return;
                    }
                }
                AstKind::AssignmentTargetPropertyIdentifier(_) => return,
                _ => {}
            }
        }
        self.refs.push(Reference {
            name,
            span: it.span,
            scope: self.cur_scope(),
            top: self.top,
        });
    }
}

fn open_function(arrow: &ArrowFunctionExpression<'_>) -> DollarOutcome {
    let params = &arrow.params;
    let count = params.items.len() + usize::from(params.rest.is_some());
    if count == 1 {
        let name = params
            .items
            .first()
            .and_then(|p| p.pattern.get_binding_identifier())
            .map_or("undefined", |b| b.name.as_str());
        if name == "state" {
            return DollarOutcome::Keep;
        }
        return DollarOutcome::Error {
            message: format!("parameter \"{name}\" should be called \"state\""),
            details: None,
            span: arrow.span,
        };
    }
    DollarOutcome::Error {
        message: "parent has wrong arity".into(),
        details: None,
        span: arrow.span,
    }
}

impl<'a> Visit<'a> for Walker<'a> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        self.stack.push(kind);
        match kind {
            AstKind::StaticMemberExpression(_)
            | AstKind::ComputedMemberExpression(_)
            | AstKind::PrivateFieldExpression(_) => self.on_member(),
            AstKind::IdentifierReference(it) => self.on_reference(it),
            _ => {}
        }
    }

    fn leave_node(&mut self, _kind: AstKind<'a>) {
        self.stack.pop();
    }

    fn visit_object_expression(&mut self, it: &ObjectExpression<'a>) {
        if self.ignored_object() {
            return;
        }
        walk::walk_object_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        // enter_node happens inside walk; decide with the call itself not yet on the stack.
        let chain = self.on_call(it);
        if chain {
            self.in_chain += 1;
        }
        walk::walk_call_expression(self, it);
        if chain {
            self.in_chain -= 1;
        }
    }

    fn visit_binding_identifier(&mut self, it: &BindingIdentifier<'a>) {
        let name = it.name.as_str();
        if self.syntax_error.is_none() && STRICT_RESERVED.contains(&name) {
            let msg = if name == "eval" || name == "arguments" {
                format!("Binding {name} in strict mode")
            } else {
                format!("The keyword '{name}' is reserved")
            };
            self.syntax_error = Some((msg, it.span.start));
        }
        let target = self.catch_param.unwrap_or_else(|| self.decl_scope());
        self.scopes[target].names.insert(it.name.as_str());
        walk::walk_binding_identifier(self, it);
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        if it.is_declaration()
            && let Some(id) = &it.id
        {
            let s = self.decl_scope();
            self.scopes[s].names.insert(id.name.as_str());
        }
        self.push_scope(false);
        walk::walk_function(self, it, flags);
        self.pop_scope();
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        self.push_scope(false);
        walk::walk_arrow_function_expression(self, it);
        self.pop_scope();
    }

    fn visit_catch_clause(&mut self, it: &CatchClause<'a>) {
        let kind = AstKind::CatchClause(self.alloc(it));
        self.enter_node(kind);
        let id = self.push_scope(true);
        if let Some(param) = &it.param {
            self.catch_param = Some(id);
            self.visit_catch_parameter(param);
            self.catch_param = None;
        }
        self.visit_block_statement(&it.body);
        self.pop_scope();
        self.leave_node(kind);
    }

    fn visit_class(&mut self, it: &Class<'a>) {
        walk::walk_class(self, it);
    }
}
