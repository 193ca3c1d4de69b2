//! Parsing: a cheap nesting pre-scan (oxc's parser recurses and would overflow the stack on
//! pathological input), the oxc parse itself with acorn-like options, and the translation of
//! oxc diagnostics into acorn's wording and positions.

use oxc_allocator::Allocator;
use oxc_ast::ast::Program;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;

use crate::error::CompileError;
use crate::text::LineIndex;

/// Deepest nesting accepted by the pre-scan (brackets plus right-recursive operators).
pub(crate) const MAX_DEPTH: usize = 1500;

/// Parses `src` as an ES module. The caller must have run [`check_depth`] first.
pub(crate) fn parse<'a>(
    alloc: &'a Allocator,
    src: &'a str,
    lines: &LineIndex<'_>,
) -> Result<Program<'a>, CompileError> {
    if src.starts_with("#!") {
        return Err(CompileError::Parser(
            "Line 1: Unexpected token ILLEGAL".to_string(),
        ));
    }
    let options = ParseOptions {
        preserve_parens: false,
        ..ParseOptions::default()
    };
    let ret = Parser::new(alloc, src, SourceType::mjs())
        .with_options(options)
        .parse();
    if let Some(diag) = ret.diagnostics.first() {
        return Err(translate(diag, src, lines));
    }
    Ok(ret.program)
}

fn translate(
    diag: &oxc_diagnostics::OxcDiagnostic,
    src: &str,
    lines: &LineIndex<'_>,
) -> CompileError {
    let msg: &str = &diag.message;
    let label = diag.labels.first();
    let mut offset = label.map_or(0, |l| l.offset() as usize);
    let len = label.map_or(0, |l| l.len() as usize);
    let message = if msg.contains("Unterminated string") {
        "Unterminated string constant".to_string()
    } else if msg.contains("Unterminated template") {
        "Unterminated template".to_string()
    } else if msg.contains("Unterminated multiline comment") || msg.contains("Unterminated comment")
    {
        "Unterminated comment".to_string()
    } else if msg.contains("Unterminated regular expression") {
        "Unterminated regular expression".to_string()
    } else if msg.contains("can only be used within a function") || msg.contains("'return' outside")
    {
        "'return' outside of function".to_string()
    } else if let Some(word) = reserved_word(msg, src, offset, len) {
        format!("The keyword '{word}' is reserved")
    } else if msg.starts_with("Invalid Character") || msg.starts_with("Invalid character") {
        let ch = src
            .get(offset..)
            .and_then(|s| s.chars().next())
            .unwrap_or(' ');
        format!("Unexpected character '{ch}'")
    } else if msg.starts_with("Expected a semicolon") {
        // oxc points at the end of the previous token; acorn at the next token.
        offset = skip_trivia(src, offset);
        "Unexpected token".to_string()
    } else {
        "Unexpected token".to_string()
    };
    let (line, column) = lines.line_col(offset.min(src.len()) as u32);
    CompileError::Syntax {
        message,
        line,
        column,
    }
}

fn reserved_word(msg: &str, src: &str, offset: usize, len: usize) -> Option<String> {
    let lower = msg.to_ascii_lowercase();
    if !(lower.contains("reserved") || lower.contains("cannot be used as an identifier")) {
        return None;
    }
    let word = src.get(offset..offset + len)?;
    Some(word.to_string())
}

fn skip_trivia(src: &str, mut i: usize) -> usize {
    let b = src.as_bytes();
    loop {
        while i < b.len() && (b[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'/') && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b.get(i) == Some(&b'/') && b.get(i + 1) == Some(&b'*') {
            match src[i + 2..].find("*/") {
                Some(e) => i = i + 2 + e + 2,
                None => return b.len(),
            }
        } else {
            return i;
        }
    }
}

/// Rough tokenizer state for [`check_depth`].
#[derive(Clone, Copy, PartialEq)]
enum Frame {
    /// `(`, `[` or `{`, with the count of right-recursive operators since the last `,`/`;`.
    Bracket(u8, usize),
    /// `${` inside a template literal.
    TemplateExpr(usize),
}

/// Rejects sources whose nesting would make the recursive parser (or our own walkers) run out
/// of stack. Counts bracket depth plus chains of right-recursive operators (`a = b = …`,
/// `!!!x`, `x => y => …`, `a ? b : c ? …`, `else if` chains), skipping strings, comments,
/// templates and regular expressions. Errs on the side of rejecting absurd inputs only.
pub(crate) fn check_depth(src: &str, lines: &LineIndex<'_>) -> Result<Vec<usize>, CompileError> {
    let mut object_inits = Vec::new();
    let b = src.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    // Operator chain count at the top level (outside all brackets).
    let mut top_chain = 0usize;
    let mut depth = 0usize; // brackets + all chain counts
    // Whether the previous significant token ends an expression (for `/` and prefix `+`/`-`).
    let mut prev_value = false;
    // Whether the previous significant token was a closing bracket.
    let mut prev_close = false;
    let mut i = 0usize;
    let too_deep = |i: usize| {
        let (line, column) = lines.line_col(i as u32);
        Err(CompileError::TooDeep { line, column })
    };
    macro_rules! chain_inc {
        () => {{
            match stack.last_mut() {
                Some(Frame::Bracket(_, c)) | Some(Frame::TemplateExpr(c)) => *c += 1,
                None => top_chain += 1,
            }
            depth += 1;
            if depth > MAX_DEPTH {
                return too_deep(i);
            }
        }};
    }
    macro_rules! chain_reset {
        () => {{
            let c = match stack.last_mut() {
                Some(Frame::Bracket(_, c)) | Some(Frame::TemplateExpr(c)) => c,
                None => &mut top_chain,
            };
            depth -= *c;
            *c = 0;
        }};
    }
    while i < b.len() {
        let c = b[i];
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            prev_close = matches!(c, b')' | b']' | b'}');
        }
        match c {
            b'\n' | b'\r' => {
                // A line break after a complete expression, at statement level, followed by
                // something that starts a statement, ends the statement (ASI).
                let statement_level = matches!(stack.last(), None | Some(Frame::Bracket(b'{', _)));
                if statement_level && (prev_value || prev_close) {
                    let next = src[i..]
                        .trim_start()
                        .as_bytes()
                        .first()
                        .copied()
                        .unwrap_or(b';');
                    if next.is_ascii_alphabetic()
                        || matches!(next, b'_' | b'$' | b'"' | b'\'' | b'`' | b';')
                        || next >= 0x80
                    {
                        chain_reset!();
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
                continue;
            }
            b'`' => {
                i += 1;
                i = skip_template(b, i, &mut stack, &mut depth);
                if depth > MAX_DEPTH {
                    return too_deep(i);
                }
                prev_value = true;
                continue;
            }
            b'(' | b'[' | b'{' => {
                stack.push(Frame::Bracket(c, 0));
                depth += 1;
                if depth > MAX_DEPTH {
                    return too_deep(i);
                }
                prev_value = false;
            }
            b')' | b']' | b'}' => {
                match stack.pop() {
                    Some(Frame::Bracket(_, n)) => depth -= 1 + n,
                    Some(Frame::TemplateExpr(n)) => {
                        depth -= 1 + n;
                        // Back inside the template text.
                        i += 1;
                        i = skip_template(b, i, &mut stack, &mut depth);
                        if depth > MAX_DEPTH {
                            return too_deep(i);
                        }
                        prev_value = true;
                        continue;
                    }
                    None => {}
                }
                prev_value = c != b'}';
            }
            b',' | b';' => {
                chain_reset!();
                prev_value = false;
            }
            b'=' => {
                // `=`, `==`, `===`, `=>`.
                let next = b.get(i + 1).copied();
                if next == Some(b'>') {
                    chain_inc!();
                    i += 2;
                    prev_value = false;
                    continue;
                }
                if next == Some(b'=') {
                    i += if b.get(i + 2) == Some(&b'=') { 3 } else { 2 };
                    prev_value = false;
                    continue;
                }
                chain_inc!();
                prev_value = false;
                // `= {`: an object literal initialiser (a candidate for blanking).
                let rest = &b[i + 1..];
                let ws = rest
                    .iter()
                    .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
                    .count();
                if rest.get(ws) == Some(&b'{')
                    && (i == 0 || !matches!(b[i - 1], b'=' | b'!' | b'<' | b'>'))
                {
                    object_inits.push(i + 1 + ws);
                }
            }
            b'?' => {
                let next = b.get(i + 1).copied();
                if next == Some(b'.') && !b.get(i + 2).is_some_and(u8::is_ascii_digit) {
                    i += 2;
                    prev_value = false;
                    continue;
                }
                if next == Some(b'?') {
                    i += 2;
                    prev_value = false;
                    continue;
                }
                chain_inc!();
                prev_value = false;
            }
            b'!' | b'~' => {
                if b.get(i + 1) == Some(&b'=') {
                    i += 2;
                    prev_value = false;
                    continue;
                }
                chain_inc!();
                prev_value = false;
            }
            b'+' | b'-' => {
                if b.get(i + 1) == Some(&c) {
                    i += 2;
                    continue;
                }
                if !prev_value {
                    chain_inc!();
                }
                prev_value = false;
            }
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &src[start..i];
                match word {
                    "typeof" | "void" | "delete" | "await" | "new" | "yield" => {
                        chain_inc!();
                        prev_value = false;
                    }
                    "else" => {
                        if src[i..].trim_start().starts_with("if") {
                            chain_inc!();
                            // Skip the `if` so that it does not reset the chain.
                            let ws = src[i..].len() - src[i..].trim_start().len();
                            i += ws + 2;
                        }
                        prev_value = false;
                    }
                    "const" | "let" | "var" | "if" | "for" | "while" | "do" | "switch" | "try"
                    | "function" | "class" | "export" | "import" | "return" | "throw" => {
                        chain_reset!();
                        prev_value = false;
                    }
                    "in" | "of" | "case" | "instanceof" => prev_value = false,
                    _ => prev_value = true,
                }
                continue;
            }
            _ => prev_value = false,
        }
        i += 1;
    }
    Ok(object_inits)
}

/// If `b[start..]` begins with an object literal made only of literals — strings, JSON
/// numbers, `true`/`false`/`null`, nested objects and arrays, string/number/identifier keys,
/// trailing commas allowed — returns the index after its closing brace. Iterative.
fn literal_object_end(b: &[u8], start: usize) -> Option<usize> {
    #[derive(PartialEq, Clone, Copy)]
    enum Ctx {
        Obj,
        Arr,
    }
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = start;
    let ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    let string = |i: &mut usize| -> Option<()> {
        let q = b[*i];
        *i += 1;
        while *i < b.len() {
            match b[*i] {
                b'\\' => *i += 2,
                b'\n' | b'\r' => return None,
                c if c == q => {
                    *i += 1;
                    return Some(());
                }
                _ => *i += 1,
            }
        }
        None
    };
    let number = |i: &mut usize| -> Option<()> {
        if b.get(*i) == Some(&b'-') {
            *i += 1;
        }
        match b.get(*i) {
            Some(b'0') => *i += 1,
            Some(b'1'..=b'9') => {
                while b.get(*i).is_some_and(u8::is_ascii_digit) {
                    *i += 1;
                }
            }
            _ => return None,
        }
        if b.get(*i) == Some(&b'.') {
            *i += 1;
            if !b.get(*i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
        }
        if matches!(b.get(*i), Some(b'e' | b'E')) {
            *i += 1;
            if matches!(b.get(*i), Some(b'+' | b'-')) {
                *i += 1;
            }
            if !b.get(*i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
        }
        if b.get(*i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$')
        {
            return None;
        }
        Some(())
    };
    let word = |i: &mut usize| -> &[u8] {
        let s = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_' || b[*i] == b'$') {
            *i += 1;
        }
        &b[s..*i]
    };
    // Expect a value at i.
    loop {
        ws(&mut i);
        // Parse a value (or open a container).
        match *b.get(i)? {
            b'{' => {
                stack.push(Ctx::Obj);
                i += 1;
                ws(&mut i);
                if b.get(i) == Some(&b'}') {
                    i += 1;
                    stack.pop();
                } else {
                    // key
                    match *b.get(i)? {
                        b'"' | b'\'' => string(&mut i)?,
                        b'0'..=b'9' => number(&mut i)?,
                        c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                            word(&mut i);
                        }
                        _ => return None,
                    }
                    ws(&mut i);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i += 1;
                    continue;
                }
            }
            b'[' => {
                stack.push(Ctx::Arr);
                i += 1;
                ws(&mut i);
                if b.get(i) == Some(&b']') {
                    i += 1;
                    stack.pop();
                } else {
                    continue;
                }
            }
            b'"' | b'\'' => string(&mut i)?,
            b'-' | b'0'..=b'9' => number(&mut i)?,
            b't' | b'f' | b'n' => {
                let w = word(&mut i);
                if !matches!(w, b"true" | b"false" | b"null") {
                    return None;
                }
            }
            _ => return None,
        }
        // After a value: `,` or a closer, possibly several closers.
        loop {
            ws(&mut i);
            let top = *stack.last()?;
            match (b.get(i).copied()?, top) {
                (b',', _) => {
                    i += 1;
                    ws(&mut i);
                    // Trailing comma then closer.
                    match (b.get(i).copied()?, top) {
                        (b'}', Ctx::Obj) | (b']', Ctx::Arr) => {
                            i += 1;
                            stack.pop();
                            if stack.is_empty() {
                                return Some(i);
                            }
                            continue;
                        }
                        _ => {}
                    }
                    if top == Ctx::Obj {
                        match *b.get(i)? {
                            b'"' | b'\'' => string(&mut i)?,
                            b'0'..=b'9' => number(&mut i)?,
                            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                                word(&mut i);
                            }
                            _ => return None,
                        }
                        ws(&mut i);
                        if b.get(i) != Some(&b':') {
                            return None;
                        }
                        i += 1;
                    }
                    break;
                }
                (b'}', Ctx::Obj) | (b']', Ctx::Arr) => {
                    i += 1;
                    stack.pop();
                    if stack.is_empty() {
                        return Some(i);
                    }
                }
                _ => return None,
            }
        }
    }
}

/// Object literals at least this big are candidates for blanking.
const BLANK_MIN: usize = 16 * 1024;

/// Big object-literal initialisers that are valid JSON hold no identifiers, no `$` and no
/// calls, so no transform ever touches them (and the kit skips top-level ones anyway). Their
/// interior is replaced by spaces (newlines kept, so every offset stays the same) in the text
/// oxc parses, which keeps the AST — and memory — small for jobs with huge mapping tables.
/// Returns `None` when there is nothing to blank.
pub(crate) fn blank_json_objects(src: &str, candidates: &[usize]) -> Option<String> {
    let mut ranges = Vec::new();
    let mut last_end = 0;
    for &start in candidates {
        if start < last_end || src.len() - start < BLANK_MIN {
            continue;
        }
        if let Some(end) = literal_object_end(src.as_bytes(), start)
            && end - start >= BLANK_MIN
        {
            ranges.push((start + 1, end - 1));
            last_end = end;
        }
    }
    if ranges.is_empty() {
        return None;
    }
    let mut bytes = src.as_bytes().to_vec();
    for (a, b) in ranges {
        for c in &mut bytes[a..b] {
            if !matches!(*c, b'\n' | b'\r') {
                *c = b' ';
            }
        }
    }
    // Only ASCII bytes were written over whole UTF-8 sequences' bytes... every byte of a
    // multi-byte sequence became a space, so the text stays valid UTF-8.
    String::from_utf8(bytes).ok()
}

/// Skips template text from `i` (just after a backtick or a closing `}` of `${`), pushing a
/// frame when a `${` opens. Returns the index after the consumed text.
fn skip_template(b: &[u8], mut i: usize, stack: &mut Vec<Frame>, depth: &mut usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                stack.push(Frame::TemplateExpr(0));
                *depth += 1;
                return i + 2;
            }
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_objects() {
        let ok = |s: &str| literal_object_end(s.as_bytes(), 0);
        assert_eq!(ok("{}"), None);
        assert_eq!(ok("{\"a\": 1}"), Some(8));
        assert_eq!(
            ok("{a: [1, 'x', {b: null,},], \"c\": -1.5e3,} rest"),
            Some(40)
        );
        assert_eq!(ok("{a: b}"), None);
        assert_eq!(ok("{a: 1 + 2}"), None);
        assert_eq!(ok("{a: `x`}"), None);
        assert_eq!(ok("{a: 01}"), None);
        assert_eq!(ok("{a: 1"), None);
    }

    #[test]
    fn blanking_keeps_offsets_and_lines() {
        let big: String = (0..3000)
            .map(|i| format!("  \"k{i}\": [{i}, \"é\"],\n"))
            .collect();
        let src = format!("const m = {{\n{big}}};\nfn();");
        let lines = LineIndex::new(&src);
        let cands = check_depth(&src, &lines).unwrap();
        let blanked = blank_json_objects(&src, &cands).unwrap();
        assert_eq!(blanked.len(), src.len());
        assert_eq!(blanked.matches('\n').count(), src.matches('\n').count());
        assert!(blanked.ends_with("};\nfn();"));
        assert!(!blanked.contains("k1"));
    }
}
