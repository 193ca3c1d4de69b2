//! Compile errors as a compiler shows them (rustc/oxc style): the message, the file and
//! position, the source line and a caret under the column.
//!
//! ```text
//! error: Unexpected token
//!  --> job.js:2:1
//!   |
//! 2 | fn(s => {
//!   | ^
//! ```

use anstyle::{AnsiColor, Style};
use openfn_compiler::CompileError;

use crate::load::Source;

/// The message, line (1-based) and column (0-based, UTF-16 units) of a compile error.
fn parts(error: &CompileError) -> (String, Option<(u32, u32)>) {
    match error {
        CompileError::Syntax {
            message,
            line,
            column,
        } => (message.clone(), Some((*line, *column))),
        CompileError::LazyState {
            message,
            line,
            column,
            ..
        } => (
            format!("Lazy State Error: {message}"),
            Some((*line, *column)),
        ),
        CompileError::TooDeep { line, column } => (
            "Maximum nesting depth exceeded".to_owned(),
            Some((*line, *column)),
        ),
        other => (other.to_string(), None),
    }
}

/// The char index of a UTF-16 column in `line`.
fn char_column(line: &str, utf16: u32) -> usize {
    let mut units = 0u32;
    for (i, c) in line.chars().enumerate() {
        if units >= utf16 {
            return i;
        }
        units += c.len_utf16() as u32;
    }
    line.chars().count()
}

/// Renders `error` in `source` (the expression's text), read from `from`.
pub fn render(error: &CompileError, source: &str, from: &Source) -> String {
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let blue = Style::new().fg_color(Some(AnsiColor::Blue.into())).bold();
    let bold = Style::new().bold();
    let (message, position) = parts(error);
    let mut text = format!("{red}error{red:#}{bold}: {message}{bold:#}\n");
    let file = from.file.display();
    let Some((line, column)) = position else {
        text.push_str(&format!("{blue} -->{blue:#} {file}\n"));
        return text;
    };
    let shown_column = column + 1;
    match &from.inline_step {
        Some(step) => text.push_str(&format!(
            "{blue} -->{blue:#} {file}, step {step}: expression line {line}, column {shown_column}\n"
        )),
        None => text.push_str(&format!("{blue} -->{blue:#} {file}:{line}:{shown_column}\n")),
    }
    // an error at the end of the input may sit just past the last line: show that line
    let lines: Vec<&str> = source.lines().collect();
    let index = line.saturating_sub(1) as usize;
    let (line, code, caret_at) = match lines.get(index) {
        Some(code) => (line, *code, char_column(code, column)),
        None => match lines.last() {
            Some(code) => (lines.len() as u32, *code, code.chars().count()),
            None => return text,
        },
    };
    let number = line.to_string();
    let pad = " ".repeat(number.len());
    let lead: String = code
        .chars()
        .take(caret_at)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    text.push_str(&format!("{pad} {blue}|{blue:#}\n"));
    text.push_str(&format!("{blue}{number} |{blue:#} {code}\n"));
    text.push_str(&format!("{pad} {blue}|{blue:#} {lead}{red}^{red:#}\n"));
    if let CompileError::LazyState {
        details: Some(details),
        ..
    } = error
    {
        text.push_str(&format!("{pad} {blue}={blue:#} {details}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_syntax_error_shows_the_line_and_a_caret() {
        let error = CompileError::Syntax {
            message: "Unexpected token".into(),
            line: 2,
            column: 4,
        };
        let from = Source {
            file: PathBuf::from("job.js"),
            inline_step: None,
        };
        let text = render(&error, "fn(s => s);\nfn((;\n", &from);
        assert_eq!(
            anstream::adapter::strip_str(&text).to_string(),
            "error: Unexpected token\n --> job.js:2:5\n  |\n2 | fn((;\n  |     ^\n"
        );
    }

    #[test]
    fn columns_count_utf16_units() {
        assert_eq!(char_column("é😀x", 3), 2);
        assert_eq!(char_column("ab", 9), 2);
    }
}
