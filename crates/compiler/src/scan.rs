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

/// The scan's state: the open brackets and what the last significant token was.
struct Scanner<'a, 's, 'l> {
    src: &'a str,
    lines: &'l LineIndex<'s>,
    stack: Vec<Frame>,
    depth: usize,
    max_depth: usize,
    max_flat: usize,
    /// Offsets of `{`/`[` that may start an object-literal initialiser.
    object_inits: Vec<usize>,
    /// Whether the previous significant token ends an expression (for `/` and prefix `+`/`-`).
    prev_value: bool,
    /// Whether the previous significant token was a closing bracket.
    prev_close: bool,
    prev: Prev,
    /// An `if`/`while`/`for`/`with` waits for its `(`.
    header_pending: bool,
    /// A `case`/`default` waits for its `:`.
    case_pending: bool,
}

impl<'a, 's, 'l> Scanner<'a, 's, 'l> {
    /// A scanner at the start of `src`.
    fn new(src: &'a str, lines: &'l LineIndex<'s>) -> Self {
        Scanner {
            src,
            lines,
            stack: vec![Frame::new(Kind::Top)],
            depth: 0,
            max_depth: 0,
            max_flat: 0,
            object_inits: Vec::new(),
            prev_value: false,
            prev_close: false,
            prev: Prev::Start,
            header_pending: false,
            case_pending: false,
        }
    }
}

impl Scanner<'_, '_, '_> {
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

    /// Records that the last token was an operator (or anything that expects an operand).
    fn after_operator(&mut self) {
        self.prev_value = false;
        self.prev = Prev::Other;
    }

    /// Records that the last token was a value (a literal).
    fn after_value(&mut self) {
        self.prev_value = true;
        self.prev = Prev::Other;
    }

    /// Scans the token at `i` and returns the index after it.
    fn token(&mut self, i: usize) -> Result<usize, CompileError> {
        let src = self.src;
        let b = src.as_bytes();
        let c = b[i];
        let prev_close_before = self.prev_close;
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            self.prev_close = matches!(c, b')' | b']' | b'}');
        }
        match c {
            b'\n' | b'\r' => {
                self.line_break(i);
                Ok(i + 1)
            }
            b' ' | b'\t' => Ok(i + 1),
            b'/' if b.get(i + 1) == Some(&b'/') => Ok(line_comment_end(b, i)),
            b'/' if b.get(i + 1) == Some(&b'*') => Ok(block_comment_end(src, i)),
            b'/' if !self.prev_value => Ok(self.regex(i)),
            b'"' | b'\'' => Ok(self.string(i, c)),
            b'`' => self.template(i, prev_close_before),
            b'(' | b'[' | b'{' => self.open(i, c, prev_close_before).map(|()| i + 1),
            b')' | b']' | b'}' => self.close(i, c),
            b';' => {
                self.semicolon(i);
                Ok(i + 1)
            }
            b',' => {
                self.comma(i);
                Ok(i + 1)
            }
            b':' => self.colon(i).map(|()| i + 1),
            b'=' => self.equals(i),
            b'?' => self.question(i),
            b'!' | b'~' => self.bang(i),
            b'+' | b'-' => self.plus_minus(i, c, prev_close_before),
            b'*' if b.get(i + 1) == Some(&b'*') => {
                // `**` is right-associative.
                self.expr_inc(i)?;
                self.after_operator();
                Ok(i + 2)
            }
            _ if is_word_start(c) || c.is_ascii_digit() => self.word(i),
            b'.' | b'*' | b'%' | b'&' | b'|' | b'^' | b'<' | b'>' | b'/' => {
                self.flat_inc(i)?;
                self.after_operator();
                Ok(i + 1)
            }
            _ => {
                self.after_operator();
                Ok(i + 1)
            }
        }
    }

    /// A line break after a complete expression, at statement level, followed by something
    /// that starts a statement, ends the statement (ASI).
    fn line_break(&mut self, i: usize) {
        if self.top().kind.statements() && (self.prev_value || self.prev_close) {
            let (word, next) = next_word(self.src, i);
            let next = next.unwrap_or(b';');
            if (is_word_start(next) && !continues_statement(word, true))
                || matches!(next, b'"' | b'\'' | b'`' | b';')
            {
                self.reset(true);
            }
        }
    }

    /// Skips the regular expression literal at `i`; returns the index after its flags.
    fn regex(&mut self, mut i: usize) -> usize {
        let b = self.src.as_bytes();
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
        self.after_value();
        i
    }

    /// Skips the string literal opened by `quote` at `i`; returns the index after it.
    fn string(&mut self, mut i: usize, quote: u8) -> usize {
        let b = self.src.as_bytes();
        i += 1;
        while i < b.len() && b[i] != quote && b[i] != b'\n' {
            if b[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        self.after_value();
        i + 1
    }

    /// The template literal opening at `i` (a tagged one links a call chain).
    fn template(&mut self, i: usize, prev_close_before: bool) -> Result<usize, CompileError> {
        if self.prev_value || prev_close_before {
            // A tagged template: one more link of a call chain.
            self.flat_inc(i)?;
        }
        let end = self.skip_template(i + 1)?;
        self.after_value();
        Ok(end)
    }

    /// An opening bracket `c` at `i`: pushes a frame of the kind it opens.
    fn open(&mut self, i: usize, c: u8, prev_close_before: bool) -> Result<(), CompileError> {
        let b = self.src.as_bytes();
        if c != b'{' && (self.prev_value || prev_close_before) {
            self.flat_inc(i)?;
        }
        // `({`, `[{`, `([`, `[[`: a literal argument or element.
        if c != b'{'
            && let Some(at) = literal_start(b, i + 1)
        {
            self.object_inits.push(at);
        }
        let kind = match c {
            b'(' if self.header_pending => {
                self.header_pending = false;
                Kind::Header
            }
            b'(' => Kind::Paren,
            b'[' => Kind::Array,
            _ => self.brace_kind(),
        };
        self.push(kind, i)?;
        self.prev_value = false;
        self.prev = if kind.statements() {
            Prev::Start
        } else {
            Prev::Other
        };
        Ok(())
    }

    /// What a `{` opens, by the token before it.
    fn brace_kind(&mut self) -> Kind {
        let in_statements = self.top().kind.statements();
        match self.prev {
            Prev::Start
            | Prev::CloseParen
            | Prev::CloseHeader
            | Prev::CloseBrace
            | Prev::Arrow
            | Prev::Word => Kind::Block,
            Prev::Do => Kind::DoBody,
            Prev::Colon if in_statements => Kind::Block,
            Prev::Colon | Prev::ExprKeyword | Prev::Other => Kind::Object,
        }
    }

    /// A closing bracket `c` at `i`: pops its frame; returns the index after what it consumed.
    fn close(&mut self, i: usize, c: u8) -> Result<usize, CompileError> {
        let popped = self.pop();
        match popped.map(|f| f.kind) {
            Some(Kind::Template) => {
                // Back inside the template text.
                let end = self.skip_template(i + 1)?;
                self.after_value();
                return Ok(end);
            }
            Some(Kind::Header) => {
                // The head of a statement: its body follows, not an operator.
                self.prev_close = false;
                self.prev_value = false;
                self.prev = Prev::CloseHeader;
            }
            Some(kind @ (Kind::Block | Kind::DoBody)) => {
                // A block ends its statement unless the statement goes on.
                if self.top().kind.statements() {
                    let (word, next) = next_word(self.src, i + 1);
                    if next.is_some_and(is_word_start)
                        && !continues_statement(word, kind == Kind::DoBody)
                    {
                        self.reset(true);
                    }
                }
                self.prev_value = false;
                self.prev = Prev::CloseBrace;
            }
            _ => {
                self.prev_value = c != b'}';
                self.prev = if c == b')' {
                    Prev::CloseParen
                } else if c == b'}' {
                    Prev::CloseBrace
                } else {
                    Prev::Other
                };
            }
        }
        Ok(i + 1)
    }

    /// `;` ends the statement, unless `else`/`while` continues it.
    fn semicolon(&mut self, i: usize) {
        let (word, _) = next_word(self.src, i + 1);
        let goes_on = word == "else" || word == "while";
        self.reset(!goes_on);
        self.prev_value = false;
        self.prev = Prev::Start;
    }

    /// `,` ends the expression; a literal may follow in an argument list or array.
    fn comma(&mut self, i: usize) {
        self.reset(false);
        self.after_operator();
        if matches!(self.top().kind, Kind::Paren | Kind::Header | Kind::Array)
            && let Some(at) = literal_start(self.src.as_bytes(), i + 1)
        {
            self.object_inits.push(at);
        }
    }

    /// `:` of a `case`, a label, or a conditional.
    fn colon(&mut self, i: usize) -> Result<(), CompileError> {
        if self.case_pending {
            self.case_pending = false;
        } else if self.top().kind.statements() {
            // A label (or a conditional's `:` at statement level).
            self.stmt_inc(i)?;
        } else {
            self.expr_inc(i)?;
        }
        self.prev_value = false;
        self.prev = Prev::Colon;
        Ok(())
    }

    /// `=`, `==`, `===`, `=>`; returns the index after the operator.
    fn equals(&mut self, i: usize) -> Result<usize, CompileError> {
        let b = self.src.as_bytes();
        let next = b.get(i + 1).copied();
        self.after_operator();
        if next == Some(b'>') {
            self.expr_inc(i)?;
            self.prev = Prev::Arrow;
            return Ok(i + 2);
        }
        if next == Some(b'=') {
            self.flat_inc(i)?;
            return Ok(i + if b.get(i + 2) == Some(&b'=') { 3 } else { 2 });
        }
        self.expr_inc(i)?;
        // `= {`: an object literal initialiser (a candidate for blanking).
        let rest = &b[i + 1..];
        let ws = rest
            .iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        if matches!(rest.get(ws), Some(b'{' | b'['))
            && (i == 0 || !matches!(b[i - 1], b'=' | b'!' | b'<' | b'>'))
        {
            self.object_inits.push(i + 1 + ws);
        }
        Ok(i + 1)
    }

    /// `?`, `?.`, `??`; returns the index after the operator.
    fn question(&mut self, i: usize) -> Result<usize, CompileError> {
        let b = self.src.as_bytes();
        let next = b.get(i + 1).copied();
        self.after_operator();
        if (next == Some(b'.') && !b.get(i + 2).is_some_and(u8::is_ascii_digit))
            || next == Some(b'?')
        {
            // `?.` and `??`: links of a flat chain.
            self.flat_inc(i)?;
            return Ok(i + 2);
        }
        self.expr_inc(i)?;
        Ok(i + 1)
    }

    /// `!`, `~`, `!=`, `!==`; returns the index after the operator.
    fn bang(&mut self, i: usize) -> Result<usize, CompileError> {
        let b = self.src.as_bytes();
        self.after_operator();
        if b.get(i + 1) == Some(&b'=') {
            self.flat_inc(i)?;
            return Ok(i + if b.get(i + 2) == Some(&b'=') { 3 } else { 2 });
        }
        self.expr_inc(i)?;
        Ok(i + 1)
    }

    /// `+`, `-`, `++`, `--` (prefix, postfix or binary); returns the index after the operator.
    fn plus_minus(
        &mut self,
        i: usize,
        c: u8,
        prev_close_before: bool,
    ) -> Result<usize, CompileError> {
        let postfix_or_binary = self.prev_value || prev_close_before;
        if self.src.as_bytes().get(i + 1) == Some(&c) {
            // `++`/`--`: postfix after a value, else a prefix (which nests).
            if !postfix_or_binary {
                self.expr_inc(i)?;
                self.prev = Prev::Other;
            }
            return Ok(i + 2);
        }
        if postfix_or_binary {
            self.flat_inc(i)?;
        } else {
            self.expr_inc(i)?;
        }
        self.after_operator();
        Ok(i + 1)
    }

    /// A word (keyword, identifier or number) at `start`; returns the index after it.
    fn word(&mut self, start: usize) -> Result<usize, CompileError> {
        let src = self.src;
        let b = src.as_bytes();
        let mut i = start;
        while i < b.len()
            && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
        {
            i += 1;
        }
        self.prev_value = false;
        self.prev = Prev::ExprKeyword;
        match &src[start..i] {
            "typeof" | "void" | "delete" | "await" | "new" | "yield" => {
                self.expr_inc(start)?;
            }
            "if" | "while" | "for" | "with" => {
                self.stmt_inc(start)?;
                self.header_pending = true;
                self.prev = Prev::Word;
            }
            "else" => {
                self.stmt_inc(start)?;
                self.prev = Prev::Word;
                let (word, _) = next_word(src, i);
                if word == "if" {
                    // `else if` nests once; skip the `if`.
                    let ws = src[i..].len() - src[i..].trim_start().len();
                    i += ws + 2;
                    self.header_pending = true;
                }
            }
            "do" => {
                self.stmt_inc(start)?;
                self.prev = Prev::Do;
            }
            "case" | "default" => self.case_pending = true,
            "in" | "instanceof" => self.flat_inc(start)?,
            "return" | "throw" | "of" | "extends" => {}
            "const" | "let" | "var" | "function" | "class" | "switch" | "try" | "finally"
            | "catch" | "export" | "import" | "async" | "static" | "get" | "set" => {
                self.prev = Prev::Word
            }
            _ => {
                self.prev_value = true;
                self.prev = Prev::Word;
            }
        }
        Ok(i)
    }

    /// Skips template text from `i` (just after a backtick or the `}` closing a `${`), opening
    /// a frame when a `${` opens. Returns the index after the consumed text.
    fn skip_template(&mut self, mut i: usize) -> Result<usize, CompileError> {
        let b = self.src.as_bytes();
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'`' => return Ok(i + 1),
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    self.push(Kind::Template, i)?;
                    return Ok(i + 2);
                }
                _ => i += 1,
            }
        }
        Ok(i)
    }
}

/// The index of the line break ending the `//` comment at `i` (or the end of input).
fn line_comment_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' {
        i += 1;
    }
    i
}

/// The index after the `*/` closing the comment opened at `i` (or the end of input).
fn block_comment_end(src: &str, i: usize) -> usize {
    match src.get(i + 2..).and_then(|s| s.find("*/")) {
        Some(e) => i + 2 + e + 2,
        None => src.len(),
    }
}

/// Bounds the nesting of `src` (see the module docs) and collects object-literal candidates.
pub(crate) fn check_depth(src: &str, lines: &LineIndex<'_>) -> Result<Scan, CompileError> {
    let mut sc = Scanner::new(src, lines);
    let mut i = 0usize;
    while i < src.len() {
        i = sc.token(i)?;
    }
    Ok(Scan {
        object_inits: sc.object_inits,
        max_depth: sc.max_depth,
        max_flat: sc.max_flat,
    })
}
