//! The one colour rule of every binary (`openfn`, `ws-worker`): colours only on a terminal,
//! `NO_COLOR` turns them off, `CLICOLOR_FORCE` turns them on where no terminal is. The caller
//! passes the environment and the terminal check in, so this module does no I/O. And the one
//! way to read coloured output as plain text ([`strip_ansi`]), for tests and the parity check.

/// Whether to write ANSI colours to a stream. `env` looks a variable up (e.g.
/// `|k| std::env::var(k).ok()`), `is_terminal` says whether the stream is a terminal.
///
/// In order: `NO_COLOR` set and not empty: no colour (<https://no-color.org>);
/// `CLICOLOR_FORCE` set, not empty and not `0`: colour; `CLICOLOR=0` or `TERM=dumb`: no
/// colour; otherwise colour exactly when the stream is a terminal.
pub fn use_colour(env: impl Fn(&str) -> Option<String>, is_terminal: bool) -> bool {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if set("CLICOLOR").is_some_and(|v| v == "0") || set("TERM").is_some_and(|v| v == "dumb") {
        return false;
    }
    is_terminal
}

/// `text` without its ANSI control sequences (`ESC [` … final letter, as colours and styles
/// are written); any other character, a lone `ESC` included, is kept.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn terminal_decides_unless_told() {
        assert!(use_colour(env(&[]), true));
        assert!(!use_colour(env(&[]), false));
        assert!(!use_colour(env(&[("NO_COLOR", "1")]), true));
        assert!(use_colour(env(&[("NO_COLOR", "")]), true));
        assert!(use_colour(env(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!use_colour(env(&[("CLICOLOR_FORCE", "0")]), false));
        assert!(!use_colour(
            env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
            true
        ));
        assert!(!use_colour(env(&[("TERM", "dumb")]), true));
        assert!(!use_colour(env(&[("CLICOLOR", "0")]), true));
    }

    #[test]
    fn strip_ansi_keeps_the_text_of_coloured_output() {
        assert_eq!(
            strip_ansi("\u{1b}[1m\u{1b}[32mok\u{1b}[0m done \u{1b}[2;37mat\u{1b}[0m 1"),
            "ok done at 1"
        );
        assert_eq!(strip_ansi("plain [x]"), "plain [x]");
        assert_eq!(strip_ansi("lone \u{1b} kept"), "lone \u{1b} kept");
        assert_eq!(strip_ansi("cut \u{1b}[3"), "cut ");
    }
}
