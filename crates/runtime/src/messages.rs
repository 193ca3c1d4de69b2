//! Translation of the QuickJS error messages users meet most often into the V8 wording they and
//! Lightning know from the kit (execution.md §7.3).

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
        ("TypeError", "object is not extensible") => {
            "Cannot add property, object is not extensible".to_string()
        }
        _ => message.to_string(),
    }
}
