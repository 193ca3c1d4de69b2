//! Turning what a step threw into the kit's error classes, with V8 wording and positions.

use rquickjs::{Ctx, Function, Object, Value};
use serde::Deserialize;
use serde_json::Value as Json;

use crate::error::{Position, RtError, Severity};
use crate::messages::translate_at;
use crate::sourcemap::frame_position;

/// Descriptor of a thrown value, produced by the job realm's `describeError`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Thrown {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) ctor: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) stack: Option<String>,
    #[serde(default)]
    pub(super) severity: Option<String>,
    #[serde(default)]
    pub(super) fix: Option<String>,
    #[serde(default)]
    pub(super) details: Option<Json>,
    #[serde(default)]
    pub(super) subtype: Option<String>,
    #[serde(default)]
    pub(super) index: Option<usize>,
    #[serde(default)]
    pub(super) map_to_operation: Option<bool>,
}

/// The kind of a thrown value that could not be described (the describer itself failed).
pub(super) const UNDESCRIBABLE: &str = "undescribable";

impl Thrown {
    fn undescribable() -> Thrown {
        Thrown {
            kind: UNDESCRIBABLE.into(),
            message: "unknown error".into(),
            ..Default::default()
        }
    }
}

/// Classify whatever was thrown (§2.7).
pub(super) fn classify<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    e: rquickjs::Error,
    prefix: Option<&str>,
    source: &str,
    null_is_oom: bool,
) -> RtError {
    let thrown = if e.is_exception() {
        let exc = ctx.catch();
        describe(ctx, kit, exc)
    } else {
        Thrown {
            kind: "value".into(),
            message: e.to_string(),
            ..Default::default()
        }
    };
    // QuickJS throws `null` when it cannot even allocate the error object, and describing an
    // error fails when the heap is still full: under a memory limit both mean out of memory.
    // Likewise an InternalError whose message could not be allocated.
    let bare_internal = thrown.ctor.as_deref() == Some("InternalError")
        && (thrown.message.is_empty() || thrown.message == "out of memory");
    if (thrown.kind == "null" || thrown.kind == UNDESCRIBABLE || bare_internal) && null_is_oom {
        return RtError::oom();
    }
    let mut error = classify_thrown(thrown, source);
    if let Some(p) = prefix {
        error.message = format!("{p}{}", error.message);
    }
    error
}

pub(super) fn describe<'js>(ctx: &Ctx<'js>, kit: &Object<'js>, exc: Value<'js>) -> Thrown {
    let d = (|| -> rquickjs::Result<Option<String>> {
        let f: Function<'_> = kit.get("describeError")?;
        let d: Value<'_> = f.call((exc,))?;
        ctx.json_stringify(d)?.map(|s| s.to_string()).transpose()
    })();
    match d {
        Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|_| Thrown::undescribable()),
        _ => {
            let _ = ctx.catch();
            Thrown::undescribable()
        }
    }
}

pub(super) fn classify_thrown(t: Thrown, source: &str) -> RtError {
    match t.kind.as_str() {
        "adaptor" => {
            let mut e = RtError::new("AdaptorError", Severity::Fail, t.message.clone());
            e.details = t.details;
            e.line = Some(-1);
            e.operation_name = Some(String::new());
            if t.map_to_operation == Some(true) {
                e.operation_index = t.index;
            } else {
                e.pos = t.stack.as_deref().and_then(vm_position);
            }
            e.stack = t.stack;
            e
        }
        "crash" => {
            let subtype = t.subtype.unwrap_or_else(|| "Error".into());
            let mut e = RtError::new(
                "RuntimeCrash",
                Severity::Crash,
                format!("{subtype}: {}", t.message),
            );
            e.subtype = Some(subtype);
            e.fix = t.fix;
            e
        }
        "error" => {
            let ctor = t.ctor.clone().unwrap_or_default();
            let raw_message = t.message.clone();
            let at = t.stack.as_deref().and_then(vm_position);
            let line = at
                .as_ref()
                .and_then(|p| source.split('\n').nth(p.line.saturating_sub(1) as usize));
            let message = translate_at(
                &ctor,
                &raw_message,
                line,
                at.as_ref().map_or(0, |p| p.column),
            );
            let stack = t
                .stack
                .clone()
                .map(|s| replace_header(&s, &ctor, &raw_message, &message));
            if t.name.as_deref() == Some("ImportError") {
                return RtError::import(message);
            }
            if ctor == "TypeError" || ctor == "RangeError" {
                let mut e =
                    RtError::new("RuntimeError", Severity::Fail, format!("{ctor}: {message}"));
                e.subtype = Some(ctor);
                e.pos = stack.as_deref().and_then(position_of);
                e.stack = stack.as_deref().map(vm_stack);
                v8_position(&mut e, at.as_ref(), source, &message);
                return e;
            }
            if t.severity.as_deref() == Some("crash")
                || ctor == "ReferenceError"
                || ctor == "SyntaxError"
            {
                let mut e = RtError::new(
                    "RuntimeCrash",
                    Severity::Crash,
                    format!("{ctor}: {message}"),
                );
                e.subtype = Some(ctor);
                e.pos = stack.as_deref().and_then(position_of);
                e.stack = stack.as_deref().map(vm_stack);
                v8_position(&mut e, at.as_ref(), source, &message);
                e.fix = t.fix;
                e.details = t.details;
                return e;
            }
            if ctor == "EvalError" {
                return RtError::security();
            }
            if ctor == "InternalError" && raw_message == "out of memory" {
                return RtError::oom();
            }
            RtError::new("JobError", Severity::Fail, message)
        }
        _ => RtError::new("JobError", Severity::Fail, t.message),
    }
}

/// QuickJS' position in the job (`at`, the first `vm:module(0)` frame) → the one V8 gives
/// (positions.rs), in the error's position and in its stack's first frame.
fn v8_position(e: &mut RtError, at: Option<&Position>, source: &str, message: &str) {
    if let (Some(pos), Some(at)) = (e.pos.as_mut(), at)
        && (at.line, at.column) == (pos.line, pos.column)
        && let Some(column) = crate::positions::v8_column(source, pos.line, pos.column, message)
    {
        let (from, to) = (
            format!("vm:module(0):{}:{}", pos.line, pos.column),
            format!("vm:module(0):{}:{column}", pos.line),
        );
        e.stack = e.stack.take().map(|s| s.replacen(&from, &to, 1));
        pos.column = column;
    }
}

/// Position of the first `vm:module(0)` frame.
pub(super) fn vm_position(stack: &str) -> Option<Position> {
    stack
        .split('\n')
        .skip(1)
        .filter(|f| f.contains("vm:module(0)"))
        .find_map(frame_position)
        .map(|(line, column)| Position {
            line,
            column,
            src: None,
        })
}

/// First frame with a `line:col` (kit `extractPosition`).
pub(super) fn position_of(stack: &str) -> Option<Position> {
    stack
        .split('\n')
        .skip(1)
        .find_map(frame_position)
        .map(|(line, column)| Position {
            line,
            column,
            src: None,
        })
}

/// Keep the message, the `vm:module` frames and the adaptor frames (kit `extractStackTrace`;
/// `adaptor_stack::kit_stack` gives the adaptor frames the kit's form when the step reports).
pub(super) fn vm_stack(stack: &str) -> String {
    let mut lines = stack.split('\n');
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(lines.filter(|f| f.contains("vm:module") || f.contains("@openfn/language-")));
    out.join("\n")
}

pub(super) fn replace_header(stack: &str, ctor: &str, message: &str, translated: &str) -> String {
    if translated == message {
        return stack.to_string();
    }
    match stack.split_once('\n') {
        Some((_, rest)) => format!("{ctor}: {translated}\n{rest}"),
        None => format!("{ctor}: {translated}"),
    }
}

/// Text for a non-JS-classifiable engine error (catching the pending exception).
pub(super) fn describe_engine_error(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if e.is_exception() {
        let v = ctx.catch();
        if let Some(o) = v.as_object() {
            let msg: Option<String> = o.get("message").ok();
            if let Some(m) = msg {
                return m;
            }
        }
        if let Some(s) = v.as_string() {
            return s.to_string().unwrap_or_default();
        }
        return "unknown error".into();
    }
    e.to_string()
}

/// The kit's caret line: as many spaces as the source line has characters, with `^` at the
/// 1-based `column` (after the spaces when the column is past the end; none for column 0).
pub(super) fn caret_line(src: &str, column: u32) -> String {
    let mut pointer = vec![' '; src.encode_utf16().count()];
    match (column as usize).checked_sub(1) {
        Some(at) if at < pointer.len() => pointer[at] = '^',
        Some(_) => pointer.push('^'),
        None => {}
    }
    pointer.into_iter().collect()
}
