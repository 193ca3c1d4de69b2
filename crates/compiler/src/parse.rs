//! Parsing: the oxc parse itself (after the nesting pre-scan of `scan.rs`) with acorn-like options, and the translation of
//! oxc diagnostics into acorn's wording and positions.

use oxc_allocator::Allocator;
use oxc_ast::ast::Program;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;

use crate::error::CompileError;
use crate::text::LineIndex;

/// Parses `src` as an ES module. The caller must have run [`crate::scan::check_depth`] first.
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

/// Sources with more than this many non-blanked bytes skip the semantic syntax check (it
/// builds scope and symbol tables for the whole program).
pub(crate) const SEMANTIC_CHECK_LIMIT: usize = 2 * 1024 * 1024;

/// The early errors acorn reports while parsing but oxc leaves to semantic analysis
/// (redeclarations, `break` outside loops, strict-mode rules), in acorn's wording.
pub(crate) fn semantic_check(
    program: &Program<'_>,
    src: &str,
    lines: &LineIndex<'_>,
) -> Result<(), CompileError> {
    let ret = oxc_semantic::SemanticBuilder::new()
        .with_check_syntax_error(true)
        .build(program);
    let Some(diag) = ret.diagnostics.first() else {
        return Ok(());
    };
    let msg: &str = &diag.message;
    let first = diag.labels.first().map_or(0, |l| l.offset() as usize);
    let last = diag.labels.last().map_or(0, |l| l.offset() as usize);
    let (message, offset) = if let Some(rest) = msg.strip_prefix("Identifier `") {
        let name = rest.split('`').next().unwrap_or("");
        (
            format!("Identifier '{name}' has already been declared"),
            last,
        )
    } else if let Some(rest) = msg.strip_prefix("Label `") {
        let name = rest.split('`').next().unwrap_or("");
        (format!("Label '{name}' is already declared"), last)
    } else if msg.starts_with("Illegal break") {
        ("Unsyntactic break".to_string(), first)
    } else if msg.starts_with("Illegal continue") {
        ("Unsyntactic continue".to_string(), first)
    } else if msg.contains("'with' statements") {
        ("'with' in strict mode".to_string(), first)
    } else if msg.contains("octal") {
        ("Octal literal in strict mode".to_string(), first)
    } else if msg.starts_with("Delete of an unqualified identifier") {
        let at = src[..first.min(src.len())].rfind("delete").unwrap_or(first);
        ("Deleting local variable in strict mode".to_string(), at)
    } else {
        (msg.trim_end_matches('.').replace('`', "'"), first)
    };
    let (line, column) = lines.line_col(offset.min(src.len()) as u32);
    Err(CompileError::Syntax {
        message,
        line,
        column,
    })
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
    let message = if msg.contains("Unterminated string")
        && src.as_bytes().get(offset) == Some(&b'`')
    {
        // acorn points just inside the backtick.
        offset += 1;
        "Unterminated template".to_string()
    } else if msg.contains("Unterminated string") {
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
        if ACORN_KEYWORDS.contains(&word.as_str()) {
            // acorn: a keyword where a name should be (`const class = 1`)
            format!("Unexpected keyword '{word}'")
        } else {
            format!("The keyword '{word}' is reserved")
        }
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

/// acorn's keywords (ES2015+, a module): using one as a name is `Unexpected keyword '<word>'`;
/// the other reserved words (`let`, `static`, `enum`, `await` …) are `The keyword '<word>' is
/// reserved`.
const ACORN_KEYWORDS: [&str; 35] = [
    "break",
    "case",
    "catch",
    "continue",
    "debugger",
    "default",
    "do",
    "else",
    "finally",
    "for",
    "function",
    "if",
    "return",
    "switch",
    "throw",
    "try",
    "var",
    "while",
    "with",
    "null",
    "true",
    "false",
    "instanceof",
    "typeof",
    "void",
    "delete",
    "new",
    "in",
    "this",
    "const",
    "class",
    "extends",
    "export",
    "import",
    "super",
];

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

/// Offset of a `{` or `[` that follows `from` after whitespace.
pub(crate) fn literal_start(b: &[u8], from: usize) -> Option<usize> {
    let ws = b[from.min(b.len())..]
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    matches!(b.get(from + ws), Some(b'{' | b'[')).then_some(from + ws)
}

/// A container open in [`literal_object_end`].
#[derive(PartialEq, Clone, Copy)]
enum Ctx {
    Obj,
    Arr,
}

/// What follows a value in [`literal_object_end`].
enum AfterValue {
    /// Another value (or a key was read and its value follows).
    Value,
    /// The outermost container closed: the index after it.
    End(usize),
}

/// If `b[start..]` begins with an object literal made only of literals — strings, JSON
/// numbers, `true`/`false`/`null`, nested objects and arrays, string/number/identifier keys,
/// trailing commas allowed — returns the index after its closing brace. Iterative.
fn literal_object_end(b: &[u8], start: usize) -> Option<usize> {
    let mut stack: Vec<Ctx> = Vec::new();
    let mut i = start;
    // Expect a value at i.
    loop {
        skip_ws(b, &mut i);
        if literal_value(b, &mut i, &mut stack)? {
            continue;
        }
        if let AfterValue::End(end) = after_literal_value(b, &mut i, &mut stack)? {
            return Some(end);
        }
    }
}

/// Reads a value at `i` or opens a container; returns whether a value is expected next
/// (a container opened) rather than what follows a value.
fn literal_value(b: &[u8], i: &mut usize, stack: &mut Vec<Ctx>) -> Option<bool> {
    match *b.get(*i)? {
        b'{' => {
            stack.push(Ctx::Obj);
            *i += 1;
            skip_ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                stack.pop();
            } else {
                object_key(b, i)?;
                return Some(true);
            }
        }
        b'[' => {
            stack.push(Ctx::Arr);
            *i += 1;
            skip_ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                stack.pop();
            } else {
                return Some(true);
            }
        }
        b'"' | b'\'' => json_string(b, i)?,
        b'-' | b'0'..=b'9' => json_number(b, i)?,
        b't' | b'f' | b'n' => {
            let w = json_word(b, i);
            if !matches!(w, b"true" | b"false" | b"null") {
                return None;
            }
        }
        _ => return None,
    }
    Some(false)
}

/// After a value: a `,` (then the next key in an object) or closers, possibly several.
fn after_literal_value(b: &[u8], i: &mut usize, stack: &mut Vec<Ctx>) -> Option<AfterValue> {
    loop {
        skip_ws(b, i);
        let top = *stack.last()?;
        match (b.get(*i).copied()?, top) {
            (b',', _) => {
                *i += 1;
                skip_ws(b, i);
                // Trailing comma then closer.
                match (b.get(*i).copied()?, top) {
                    (b'}', Ctx::Obj) | (b']', Ctx::Arr) => {
                        *i += 1;
                        stack.pop();
                        if stack.is_empty() {
                            return Some(AfterValue::End(*i));
                        }
                        continue;
                    }
                    _ => {}
                }
                if top == Ctx::Obj {
                    object_key(b, i)?;
                }
                return Some(AfterValue::Value);
            }
            (b'}', Ctx::Obj) | (b']', Ctx::Arr) => {
                *i += 1;
                stack.pop();
                if stack.is_empty() {
                    return Some(AfterValue::End(*i));
                }
            }
            _ => return None,
        }
    }
}

/// Reads an object key (string, number or identifier) at `i`, then its `:`.
fn object_key(b: &[u8], i: &mut usize) -> Option<()> {
    match *b.get(*i)? {
        b'"' | b'\'' => json_string(b, i)?,
        b'0'..=b'9' => json_number(b, i)?,
        c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
            json_word(b, i);
        }
        _ => return None,
    }
    skip_ws(b, i);
    if b.get(*i) != Some(&b':') {
        return None;
    }
    *i += 1;
    Some(())
}

/// Skips spaces, tabs and line breaks from `i`.
fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
        *i += 1;
    }
}

/// Reads a one-line string literal (either quote) at `i`.
fn json_string(b: &[u8], i: &mut usize) -> Option<()> {
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
}

/// Reads a JSON number at `i` (not followed by an identifier character).
fn json_number(b: &[u8], i: &mut usize) -> Option<()> {
    if b.get(*i) == Some(&b'-') {
        *i += 1;
    }
    match b.get(*i) {
        Some(b'0') => *i += 1,
        Some(b'1'..=b'9') => skip_digits(b, i),
        _ => return None,
    }
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        if !b.get(*i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        skip_digits(b, i);
    }
    if matches!(b.get(*i), Some(b'e' | b'E')) {
        *i += 1;
        if matches!(b.get(*i), Some(b'+' | b'-')) {
            *i += 1;
        }
        if !b.get(*i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        skip_digits(b, i);
    }
    if b.get(*i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$')
    {
        return None;
    }
    Some(())
}

/// Skips ASCII digits from `i`.
fn skip_digits(b: &[u8], i: &mut usize) {
    while b.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
}

/// Reads an identifier-like word at `i` (possibly empty) and returns it.
fn json_word<'b>(b: &'b [u8], i: &mut usize) -> &'b [u8] {
    let s = *i;
    while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_' || b[*i] == b'$') {
        *i += 1;
    }
    &b[s..*i]
}

/// Object/array literals at least this big are candidates for blanking.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::check_depth;

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
        let scan = check_depth(&src, &lines).unwrap();
        let blanked = blank_json_objects(&src, &scan.object_inits).unwrap();
        assert_eq!(blanked.len(), src.len());
        assert_eq!(blanked.matches('\n').count(), src.matches('\n').count());
        assert!(blanked.ends_with("};\nfn();"));
        assert!(!blanked.contains("k1"));
    }
}
