//! Translation of the QuickJS error messages users meet most often into the V8 wording they and
//! Lightning know from the kit (docs/execution.md §7.3).

/// Translate a QuickJS message for an error of constructor `ctor` into V8's words.
pub fn translate(ctor: &str, message: &str) -> String {
    // cannot read property 'y' of undefined
    if let Some(rest) = message.strip_prefix("cannot read property ")
        && let Some((prop, target)) = rest.rsplit_once(" of ")
    {
        return format!("Cannot read properties of {target} (reading {prop})");
    }
    if let Some(rest) = message.strip_prefix("cannot set property ")
        && let Some((prop, target)) = rest.rsplit_once(" of ")
    {
        return format!("Cannot set properties of {target} (setting {prop})");
    }
    match (ctor, message) {
        ("RangeError", "invalid number of digits") => {
            "toFixed() digits argument must be between 0 and 100".to_string()
        }
        ("SyntaxError", m)
            if m.starts_with("unexpected token") || m.starts_with("invalid token") =>
        {
            "Invalid or unexpected token".to_string()
        }
        _ => message.to_string(),
    }
}

/// Translate with the help of the source line the error points at (1-based `column` into
/// `line`), for the messages where V8 names the expression and QuickJS does not.
pub fn translate_at(ctor: &str, message: &str, line: Option<&str>, column: u32) -> String {
    let at = line.map(|l| (l, column.saturating_sub(1) as usize));
    match (ctor, message, at) {
        ("TypeError", "not a function", Some((l, col))) => match callee_at(l, col) {
            Some(callee) => format!("{callee} is not a function"),
            None => message.to_string(),
        },
        ("TypeError", "object is not extensible", Some((l, col))) => {
            match assigned_property_at(l, col) {
                Some(prop) => format!("Cannot add property {prop}, object is not extensible"),
                None => "Cannot add property, object is not extensible".to_string(),
            }
        }
        ("TypeError", "object is not extensible", None) => {
            "Cannot add property, object is not extensible".to_string()
        }
        _ => translate(ctor, message),
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The member chain around `col` up to the call's `(`: `s.data.x` in `s.data.x()`.
fn callee_at(line: &str, col: usize) -> Option<String> {
    let chars: Vec<char> = line.chars().collect();
    if col >= chars.len() {
        return None;
    }
    let mut start = col;
    while start > 0 && (is_ident(chars[start - 1]) || chars[start - 1] == '.') {
        start -= 1;
    }
    let mut end = col;
    while end < chars.len() && (is_ident(chars[end]) || chars[end] == '.') {
        end += 1;
    }
    let callee: String = chars[start..end].iter().collect();
    let rest: String = chars[end..].iter().collect();
    (!callee.is_empty() && rest.trim_start().starts_with('('))
        .then(|| callee.trim_matches('.').to_string())
}

/// The property assigned in `target.prop = …` starting at `col`.
fn assigned_property_at(line: &str, col: usize) -> Option<String> {
    let rest: String = line.chars().skip(col).collect();
    let eq = rest.find('=')?;
    let target = rest[..eq].trim_end();
    let prop = match target.rsplit_once('.') {
        Some((_, p)) => p,
        None => target
            .rsplit_once('[')?
            .1
            .trim_end_matches(']')
            .trim_matches(|c| c == '\'' || c == '"'),
    };
    (!prop.is_empty() && prop.chars().all(is_ident)).then(|| prop.to_string())
}
