//! The nesting pre-scan. oxc's parser, and our walkers, recurse once per level of nesting and
//! would overflow the stack on pathological input (100,000 `!`, `++`, `if (1)`, labels…), so
//! before oxc sees a source one iterative pass over it bounds how deep the parse can go, and
//! rejects it with [`CompileError::TooDeep`] past [`MAX_DEPTH`].
//!
//! The scan is a rough tokenizer (strings, comments, templates and regular expressions are
//! skipped) that counts, per bracket, the constructs that nest without brackets:
//! - in expressions, right-recursive operators: prefix operators (`!`, `~`, `+`, `-`, `++`,
//!   `--`, `typeof`, `void`, `delete`, `await`, `new`, `yield`), assignments, `**`, arrows,
//!   conditionals; a `,` ends them;
//! - in statements, bodies without braces: `if`, `else`, `while`, `for`, `with`, `do` and
//!   labels; a `;`, a line break that ends a statement, or a block's `}` followed by a new
//!   statement ends them (not when `else` or `while` continues the statement);
//! - left-deep chains the parser loops over but whose tree is as deep as the chain (member
//!   accesses, `?.`, calls, tagged templates, binary operators), up to [`MAX_CHAIN`].
//!
//! It errs on the side of counting too much: a construct it cannot place is counted.

use crate::error::CompileError;
use crate::parse::literal_start;
use crate::text::LineIndex;

/// Deepest nesting accepted (brackets plus the constructs above). The compile thread's stack
/// (`STACK_SIZE` in lib.rs) holds this many levels of the deepest-recursing construct.
pub(crate) const MAX_DEPTH: usize = 1500;

/// Longest flat chain (`a.b.c…`, `a + b + …`, `f()()…`) in one expression: the parser loops
/// over these but the AST is as deep as the chain, and walking it recurses.
pub(crate) const MAX_CHAIN: usize = 50_000;

/// What a bracket opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The top level (never popped).
    Top,
    /// `(` of a call, a group or parameters.
    Paren,
    /// `(` of an `if`/`while`/`for`/`with` head.
    Header,
    /// `[`.
    Array,
    /// `{` of a block (statements).
    Block,
    /// `{` of a `do` body (a `while` after it continues the statement).
    DoBody,
    /// `{` of an object literal or pattern.
    Object,
    /// `${` inside a template literal.
    Template,
}

impl Kind {
    fn statements(self) -> bool {
        matches!(self, Kind::Top | Kind::Block | Kind::DoBody)
    }
}

/// One open bracket and what nests inside it so far.
#[derive(Clone, Copy)]
struct Frame {
    kind: Kind,
    /// Open right-recursive expression constructs (ended by `,` or the statement's end).
    expr: usize,
    /// Open statements without braces (ended by the statement's end).
    stmt: usize,
    /// Length of the current flat chain.
    flat: usize,
}

impl Frame {
    fn new(kind: Kind) -> Frame {
        Frame {
            kind,
            expr: 0,
            stmt: 0,
            flat: 0,
        }
    }
}

/// The last significant token, for telling a block `{` from an object `{`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of a statement (`;`, start of input).
    Start,
    /// `)` of a call, group or parameter list.
    CloseParen,
    /// `)` of an `if`/`while`/`for`/`with` head.
    CloseHeader,
    /// `}`.
    CloseBrace,
    /// `=>`.
    Arrow,
    /// A keyword after which an expression follows (`return`, `typeof`, `case`, …).
    ExprKeyword,
    /// `do`.
    Do,
    /// `:`.
    Colon,
    /// Any other word (an identifier, `else`, `try`, a class name…).
    Word,
    /// An operator, an opening bracket, `,`, or a literal.
    Other,
}

/// What the pre-scan learnt about a source.
pub(crate) struct Scan {
    /// Offsets of `{` that start an object-literal initialiser (`= {`).
    pub(crate) object_inits: Vec<usize>,
    /// Deepest nesting seen (brackets plus right-recursive constructs).
    pub(crate) max_depth: usize,
    /// Longest flat chain seen.
    pub(crate) max_flat: usize,
}

impl Scan {
    /// Whether compiling needs no more stack than any thread has.
    pub(crate) fn shallow(&self) -> bool {
        self.max_depth <= 48 && self.max_flat <= 1000
    }
}

/// Words after which the statement before them goes on (`if (a) x; else …`).
fn continues_statement(word: &str, after_do: bool) -> bool {
    matches!(
        word,
        "else" | "catch" | "finally" | "in" | "instanceof" | "of"
    ) || (after_do && word == "while")
}

/// The word starting at the next significant byte from `i` (empty if none).
fn next_word(src: &str, i: usize) -> (&str, Option<u8>) {
    let rest = src.get(i..).unwrap_or("").trim_start();
    let first = rest.as_bytes().first().copied();
    let len = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$') || *c >= 0x80)
        .count();
    (rest.get(..len).unwrap_or(""), first)
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || matches!(c, b'_' | b'$') || c >= 0x80
}

struct Scanner<'s, 'l> {
    lines: &'l LineIndex<'s>,
    stack: Vec<Frame>,
    depth: usize,
    max_depth: usize,
    max_flat: usize,
}

impl Scanner<'_, '_> {
    fn too_deep(&self, i: usize) -> CompileError {
        let (line, column) = self.lines.line_col(i as u32);
        CompileError::TooDeep { line, column }
    }

    fn top(&mut self) -> &mut Frame {
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn check(&mut self, i: usize) -> Result<(), CompileError> {
        self.max_depth = self.max_depth.max(self.depth);
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep(i));
        }
        Ok(())
    }

    fn expr_inc(&mut self, i: usize) -> Result<(), CompileError> {
        self.top().expr += 1;
        self.depth += 1;
        self.check(i)
    }

    fn stmt_inc(&mut self, i: usize) -> Result<(), CompileError> {
        self.top().stmt += 1;
        self.depth += 1;
        self.check(i)
    }

    fn flat_inc(&mut self, i: usize) -> Result<(), CompileError> {
        let f = self.top();
        f.flat += 1;
        let flat = f.flat;
        self.max_flat = self.max_flat.max(flat);
        if flat > MAX_CHAIN {
            return Err(self.too_deep(i));
        }
        Ok(())
    }

    /// Ends the expression (`,`), and with `statement` the statement too.
    fn reset(&mut self, statement: bool) {
        let f = self.top();
        let mut dropped = f.expr;
        f.expr = 0;
        f.flat = 0;
        if statement {
            dropped += f.stmt;
            f.stmt = 0;
        }
        self.depth -= dropped;
    }

    fn push(&mut self, kind: Kind, i: usize) -> Result<(), CompileError> {
        self.stack.push(Frame::new(kind));
        self.depth += 1;
        self.check(i)
    }

    fn pop(&mut self) -> Option<Frame> {
        if self.stack.len() <= 1 {
            return None;
        }
        let f = self.stack.pop()?;
        self.depth -= 1 + f.expr + f.stmt;
        Some(f)
    }
}

pub(crate) fn check_depth(src: &str, lines: &LineIndex<'_>) -> Result<Scan, CompileError> {
    let mut object_inits = Vec::new();
    let mut sc = Scanner {
        lines,
        stack: vec![Frame::new(Kind::Top)],
        depth: 0,
        max_depth: 0,
        max_flat: 0,
    };
    let b = src.as_bytes();
    // Whether the previous significant token ends an expression (for `/` and prefix `+`/`-`).
    let mut prev_value = false;
    // Whether the previous significant token was a closing bracket.
    let mut prev_close = false;
    let mut prev = Prev::Start;
    // An `if`/`while`/`for`/`with` waits for its `(`.
    let mut header_pending = false;
    // A `case`/`default` waits for its `:`.
    let mut case_pending = false;
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        let prev_close_before = prev_close;
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            prev_close = matches!(c, b')' | b']' | b'}');
        }
        match c {
            b'\n' | b'\r' => {
                // A line break after a complete expression, at statement level, followed by
                // something that starts a statement, ends the statement (ASI).
                if sc.top().kind.statements() && (prev_value || prev_close) {
                    let (word, next) = next_word(src, i);
                    let next = next.unwrap_or(b';');
                    if (is_word_start(next) && !continues_statement(word, true))
                        || matches!(next, b'"' | b'\'' | b'`' | b';')
                    {
                        sc.reset(true);
                    }
                }
                i += 1;
                continue;
            }
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = match src.get(i + 2..).and_then(|s| s.find("*/")) {
                    Some(e) => i + 2 + e + 2,
                    None => b.len(),
                };
                continue;
            }
            b'/' if !prev_value => {
                // A regular expression literal.
                i += 1;
                let mut in_class = false;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'[' => in_class = true,
                        b']' => in_class = false,
                        b'/' if !in_class => break,
                        b'\n' => break,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                prev_value = true;
                prev = Prev::Other;
                continue;
            }
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                prev_value = true;
                prev = Prev::Other;
                continue;
            }
            b'`' => {
                if prev_value || prev_close_before {
                    // A tagged template: one more link of a call chain.
                    sc.flat_inc(i)?;
                }
                i += 1;
                i = skip_template(&mut sc, b, i)?;
                prev_value = true;
                prev = Prev::Other;
                continue;
            }
            b'(' | b'[' | b'{' => {
                if c != b'{' && (prev_value || prev_close_before) {
                    sc.flat_inc(i)?;
                }
                // `({`, `[{`, `([`, `[[`: a literal argument or element.
                if c != b'{'
                    && let Some(at) = literal_start(b, i + 1)
                {
                    object_inits.push(at);
                }
                let kind = match c {
                    b'(' if header_pending => {
                        header_pending = false;
                        Kind::Header
                    }
                    b'(' => Kind::Paren,
                    b'[' => Kind::Array,
                    _ => match prev {
                        Prev::Start
                        | Prev::CloseParen
                        | Prev::CloseHeader
                        | Prev::CloseBrace
                        | Prev::Arrow
                        | Prev::Word => Kind::Block,
                        Prev::Do => Kind::DoBody,
                        Prev::Colon if sc.top().kind.statements() => Kind::Block,
                        Prev::Colon | Prev::ExprKeyword | Prev::Other => Kind::Object,
                    },
                };
                sc.push(kind, i)?;
                prev_value = false;
                prev = if kind.statements() {
                    Prev::Start
                } else {
                    Prev::Other
                };
            }
            b')' | b']' | b'}' => {
                let popped = sc.pop();
                match popped.map(|f| f.kind) {
                    Some(Kind::Template) => {
                        // Back inside the template text.
                        i += 1;
                        i = skip_template(&mut sc, b, i)?;
                        prev_value = true;
                        prev = Prev::Other;
                        continue;
                    }
                    Some(Kind::Header) => {
                        // The head of a statement: its body follows, not an operator.
                        prev_close = false;
                        prev_value = false;
                        prev = Prev::CloseHeader;
                    }
                    Some(kind @ (Kind::Block | Kind::DoBody)) => {
                        // A block ends its statement unless the statement goes on.
                        if sc.top().kind.statements() {
                            let (word, next) = next_word(src, i + 1);
                            if next.is_some_and(is_word_start)
                                && !continues_statement(word, kind == Kind::DoBody)
                            {
                                sc.reset(true);
                            }
                        }
                        prev_value = false;
                        prev = Prev::CloseBrace;
                    }
                    _ => {
                        prev_value = c != b'}';
                        prev = if c == b')' {
                            Prev::CloseParen
                        } else if c == b'}' {
                            Prev::CloseBrace
                        } else {
                            Prev::Other
                        };
                    }
                }
            }
            b';' => {
                let (word, _) = next_word(src, i + 1);
                let goes_on = word == "else" || word == "while";
                sc.reset(!goes_on);
                prev_value = false;
                prev = Prev::Start;
            }
            b',' => {
                sc.reset(false);
                prev_value = false;
                prev = Prev::Other;
                if matches!(sc.top().kind, Kind::Paren | Kind::Header | Kind::Array)
                    && let Some(at) = literal_start(b, i + 1)
                {
                    object_inits.push(at);
                }
            }
            b':' => {
                if case_pending {
                    case_pending = false;
                } else if sc.top().kind.statements() {
                    // A label (or a conditional's `:` at statement level).
                    sc.stmt_inc(i)?;
                } else {
                    sc.expr_inc(i)?;
                }
                prev_value = false;
                prev = Prev::Colon;
            }
            b'=' => {
                // `=`, `==`, `===`, `=>`.
                let next = b.get(i + 1).copied();
                prev_value = false;
                prev = Prev::Other;
                if next == Some(b'>') {
                    sc.expr_inc(i)?;
                    i += 2;
                    prev = Prev::Arrow;
                    continue;
                }
                if next == Some(b'=') {
                    sc.flat_inc(i)?;
                    i += if b.get(i + 2) == Some(&b'=') { 3 } else { 2 };
                    continue;
                }
                sc.expr_inc(i)?;
                // `= {`: an object literal initialiser (a candidate for blanking).
                let rest = &b[i + 1..];
                let ws = rest
                    .iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                    .count();
                if matches!(rest.get(ws), Some(b'{' | b'['))
                    && (i == 0 || !matches!(b[i - 1], b'=' | b'!' | b'<' | b'>'))
                {
                    object_inits.push(i + 1 + ws);
                }
            }
            b'?' => {
                let next = b.get(i + 1).copied();
                prev_value = false;
                prev = Prev::Other;
                if (next == Some(b'.') && !b.get(i + 2).is_some_and(u8::is_ascii_digit))
                    || next == Some(b'?')
                {
                    // `?.` and `??`: links of a flat chain.
                    sc.flat_inc(i)?;
                    i += 2;
                    continue;
                }
                sc.expr_inc(i)?;
            }
            b'!' | b'~' => {
                prev_value = false;
                prev = Prev::Other;
                if b.get(i + 1) == Some(&b'=') {
                    sc.flat_inc(i)?;
                    i += if b.get(i + 2) == Some(&b'=') { 3 } else { 2 };
                    continue;
                }
                sc.expr_inc(i)?;
            }
            b'+' | b'-' => {
                let postfix_or_binary = prev_value || prev_close_before;
                if b.get(i + 1) == Some(&c) {
                    // `++`/`--`: postfix after a value, else a prefix (which nests).
                    if !postfix_or_binary {
                        sc.expr_inc(i)?;
                        prev = Prev::Other;
                    }
                    i += 2;
                    continue;
                }
                if postfix_or_binary {
                    sc.flat_inc(i)?;
                } else {
                    sc.expr_inc(i)?;
                }
                prev_value = false;
                prev = Prev::Other;
            }
            b'*' if b.get(i + 1) == Some(&b'*') => {
                // `**` is right-associative.
                sc.expr_inc(i)?;
                prev_value = false;
                prev = Prev::Other;
                i += 2;
                continue;
            }
            _ if is_word_start(c) || c.is_ascii_digit() => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                prev_value = false;
                prev = Prev::ExprKeyword;
                match &src[start..i] {
                    "typeof" | "void" | "delete" | "await" | "new" | "yield" => {
                        sc.expr_inc(start)?;
                    }
                    "if" | "while" | "for" | "with" => {
                        sc.stmt_inc(start)?;
                        header_pending = true;
                        prev = Prev::Word;
                    }
                    "else" => {
                        sc.stmt_inc(start)?;
                        prev = Prev::Word;
                        let (word, _) = next_word(src, i);
                        if word == "if" {
                            // `else if` nests once; skip the `if`.
                            let ws = src[i..].len() - src[i..].trim_start().len();
                            i += ws + 2;
                            header_pending = true;
                        }
                    }
                    "do" => {
                        sc.stmt_inc(start)?;
                        prev = Prev::Do;
                    }
                    "case" | "default" => case_pending = true,
                    "in" | "instanceof" => sc.flat_inc(start)?,
                    "return" | "throw" | "of" | "extends" => {}
                    "const" | "let" | "var" | "function" | "class" | "switch" | "try"
                    | "finally" | "catch" | "export" | "import" | "async" | "static" | "get"
                    | "set" => prev = Prev::Word,
                    _ => {
                        prev_value = true;
                        prev = Prev::Word;
                    }
                }
                continue;
            }
            b'.' | b'*' | b'%' | b'&' | b'|' | b'^' | b'<' | b'>' | b'/' => {
                sc.flat_inc(i)?;
                prev_value = false;
                prev = Prev::Other;
            }
            _ => {
                prev_value = false;
                prev = Prev::Other;
            }
        }
        i += 1;
    }
    Ok(Scan {
        object_inits,
        max_depth: sc.max_depth,
        max_flat: sc.max_flat,
    })
}

/// Skips template text from `i` (just after a backtick or the `}` closing a `${`), opening a
/// frame when a `${` opens. Returns the index after the consumed text.
fn skip_template(sc: &mut Scanner<'_, '_>, b: &[u8], mut i: usize) -> Result<usize, CompileError> {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return Ok(i + 1),
            b'$' if b.get(i + 1) == Some(&b'{') => {
                sc.push(Kind::Template, i)?;
                return Ok(i + 2);
            }
            _ => i += 1,
        }
    }
    Ok(i)
}
