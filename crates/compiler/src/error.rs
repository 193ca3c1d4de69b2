//! `CompileError`: every way a compile can fail, with messages in the kit's (acorn's) wording so
//! that the engine's `<step name>: <message>` strings match the kit byte for byte.

/// A failed compile. `Display` gives the kit's message (e.g. `Unexpected token (1:21)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A syntax error, worded and positioned as acorn reports it (line 1-based, column 0-based).
    #[error("{message} ({line}:{column})")]
    Syntax {
        /// acorn-style message without the position, e.g. `Unexpected token`.
        message: String,
        /// 1-based line.
        line: u32,
        /// 0-based column (UTF-16 units).
        column: u32,
    },
    /// A source the kit's parser rejects before acorn sees it (a `#!` line).
    #[error("{0}")]
    Parser(String),
    /// Misuse of the lazy state operator `$`.
    #[error("Lazy State Error: {message} ({line}:{column})")]
    LazyState {
        /// What went wrong, e.g. `Must be inside an operation`.
        message: String,
        /// Longer explanation, when the kit gives one.
        details: Option<String>,
        /// 1-based line of the offending node.
        line: u32,
        /// 0-based column of the offending node.
        column: u32,
        /// Byte range of the offending node.
        start: u32,
        /// End of the byte range of the offending node.
        end: u32,
    },
    /// Nesting deeper than the compiler supports (the kit would overflow its stack).
    #[error("Maximum nesting depth exceeded ({line}:{column})")]
    TooDeep {
        /// 1-based line where the limit was crossed.
        line: u32,
        /// 0-based column where the limit was crossed.
        column: u32,
    },
    /// A bug in the compiler (a panic caught at the API boundary).
    #[error("internal compiler error: {0}")]
    Internal(String),
    /// The source is not valid UTF-8.
    #[error("invalid utf-8 in source at byte {offset}")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
}

impl CompileError {
    /// The JS error class the kit would throw (`SyntaxError`, `LazyStateError`, `RangeError`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Syntax { .. } | Self::Parser(_) | Self::InvalidUtf8 { .. } => "SyntaxError",
            Self::LazyState { .. } => "LazyStateError",
            Self::TooDeep { .. } => "RangeError",
            Self::Internal(_) => "Error",
        }
    }

    /// The engine's form of the error: `<step name>: <message>`.
    pub fn for_step(&self, step: &str) -> String {
        format!("{step}: {self}")
    }

    /// Position (1-based line, 0-based column) when the error has one.
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            Self::Syntax { line, column, .. }
            | Self::LazyState { line, column, .. }
            | Self::TooDeep { line, column } => Some((*line, *column)),
            Self::Parser(_) | Self::InvalidUtf8 { .. } | Self::Internal(_) => None,
        }
    }
}
