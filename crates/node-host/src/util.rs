//! Small helpers shared by the host's modules (below all of them): poison-tolerant locking,
//! JS errors with Node-style codes, the CommonJS function wrapper, and byte copies of typed
//! arrays.

use rquickjs::{Ctx, Exception, Function, TypedArray};

/// The text of a CommonJS function wrapper around `source`, kept on the source's first line so
/// line numbers in stack traces stay right.
pub(crate) fn wrap_source(source: &str, params: &[&str]) -> String {
    let mut out = String::with_capacity(source.len() + 80);
    out.push_str("(function (");
    out.push_str(&params.join(", "));
    out.push_str(") {");
    out.push_str(source);
    out.push_str("\n})");
    out
}

/// Compiles `source` as a sloppy-mode function taking `params` (a CommonJS wrapper).
pub(crate) fn compile_script<'js>(
    ctx: &Ctx<'js>,
    source: &str,
    filename: &str,
    params: &[&str],
) -> rquickjs::Result<Function<'js>> {
    let text = wrap_source(source, params);
    let mut options = rquickjs::context::EvalOptions::default();
    options.strict = false;
    options.filename = Some(filename.to_owned());
    ctx.eval_with_options(text, options)
}

/// Node's error for a module that cannot be loaded: `Cannot find module '<specifier>'`, code
/// `MODULE_NOT_FOUND`. The one error for missing, unreadable and not allowed, naming only the
/// specifier as given: never a resolved path, a symlink's target or anything of the process.
pub(crate) fn not_found(ctx: &Ctx<'_>, specifier: &str) -> rquickjs::Error {
    throw_error(
        ctx,
        &format!("Cannot find module '{specifier}'"),
        Some("MODULE_NOT_FOUND"),
    )
}

/// Throws a JS `Error` with `message` and an optional `code` property.
pub(crate) fn throw_error(ctx: &Ctx<'_>, message: &str, code: Option<&str>) -> rquickjs::Error {
    match Exception::from_message(ctx.clone(), message) {
        Ok(exc) => {
            if let Some(code) = code {
                let _ = exc.set("code", code);
            }
            exc.throw()
        }
        Err(e) => e,
    }
}

/// Copies the bytes of a `Uint8Array` view.
#[allow(
    unsafe_code,
    reason = "rquickjs exposes typed array contents only through a raw slice"
)]
pub(crate) fn bytes_of(array: &TypedArray<'_, u8>) -> Vec<u8> {
    // SAFETY: the slice is copied at once, while we hold the context (no JS runs in between),
    // so the backing buffer cannot be detached or resized during the copy.
    unsafe { array.as_bytes() }
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// Mutex helper that ignores poisoning (the protected maps stay consistent on panic).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
