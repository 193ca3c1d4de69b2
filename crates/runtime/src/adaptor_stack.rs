//! Stacks and messages of errors that pass through adaptor code, as the kit shows them
//! (docs/execution.md §7.3): the kit's `extractStackTrace` keeps the job's `vm:module` frames
//! and the adaptor frames (from `@openfn/language-` on, without the local path), and V8 names
//! the callee of a failed call (`func is not a function`) where QuickJS says `not a function`.
//! Both need the adaptor's source at the frame; it is read only from the run's adaptor roots,
//! through the run's [`AdaptorHost`] (the file system natively; the wasm guest asks its host).

use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;

use crate::error::RtError;
use crate::host::AdaptorHost;

use crate::messages::translate_at;
use crate::positions::v8_column;
use crate::sourcemap::frame_position;

/// Reads adaptor sources named by stack frames, but only files under the run's adaptor roots
/// (the repo and the linker's module paths): a stack is text the job may have written.
pub(crate) struct AdaptorSources {
    roots: Vec<PathBuf>,
    /// The adaptors' entry files (canonical) and the run's cache key (`?cache=<key>`).
    cache: Option<(Vec<PathBuf>, String)>,
    /// How files are read: the run's adaptor host.
    host: Rc<dyn AdaptorHost>,
}

/// `path` with its symlinks resolved where this process can see the file system; where it
/// cannot (the wasm guest has no preopened directory), the absolute path as given, refused if
/// it has `.` or `..` components. The guest's host resolves and checks it again.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(found) = path.canonicalize() {
        return Some(found);
    }
    let plain = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    plain.then(|| path.to_path_buf())
}

impl AdaptorSources {
    pub fn new(roots: impl IntoIterator<Item = PathBuf>, host: Rc<dyn AdaptorHost>) -> Self {
        let roots = roots.into_iter().filter_map(|r| canonical(&r)).collect();
        AdaptorSources {
            roots,
            cache: None,
            host,
        }
    }

    /// Frames in one of `entries` name the file as the kit's engine imports it:
    /// `<entry>?cache=<key>`.
    pub fn with_cache_key(mut self, entries: Vec<PathBuf>, key: String) -> Self {
        let entries = entries
            .into_iter()
            .map(|e| canonical(&e).unwrap_or(e))
            .collect();
        self.cache = Some((entries, key));
        self
    }

    /// `?cache=<key>` when `path` is an adaptor's entry file and the run has a cache key.
    fn cache_suffix(&self, path: &str) -> String {
        let Some((entries, key)) = &self.cache else {
            return String::new();
        };
        let path = Path::new(path);
        let path = canonical(path).unwrap_or_else(|| path.to_path_buf());
        if entries.contains(&path) {
            format!("?cache={key}")
        } else {
            String::new()
        }
    }

    fn read(&self, path: &str) -> Option<String> {
        if !path.ends_with(".js") && !path.ends_with(".cjs") && !path.ends_with(".mjs") {
            return None;
        }
        let path = canonical(Path::new(path))?;
        if !self.roots.iter().any(|root| path.starts_with(root)) {
            return None;
        }
        self.host.read_text(&path).ok()
    }

    /// The file, line and V8 column of an adaptor frame (`    at <path>:<line>:<col>`), the
    /// column moved from QuickJS' call position to V8's (the callee).
    fn frame(&self, frame: &str) -> Option<(String, u32, u32, Option<String>)> {
        let (line, col) = frame_position(frame)?;
        let text = frame.trim().trim_end_matches(')');
        let text = text.strip_prefix("at ").unwrap_or(text);
        let text = text.rsplit_once('(').map_or(text, |(_, path)| path);
        let path = text.strip_suffix(&format!(":{line}:{col}"))?;
        let source = self.read(path);
        let v8 = source
            .as_deref()
            .and_then(|s| v8_column(s, line, col, "x is not a function"))
            .unwrap_or(col);
        let source_line = source.and_then(|s| {
            s.split('\n')
                .nth(line.checked_sub(1)? as usize)
                .map(str::to_owned)
        });
        Some((path.to_owned(), line, v8, source_line))
    }
}

/// The kit's `extractStackTrace`: the first line, then the job's `vm:module` frames and the
/// adaptor frames as `    @openfn/language-…:<line>:<V8 column>`.
pub(crate) fn kit_stack(stack: &str, sources: &AdaptorSources) -> String {
    let mut lines = stack.split('\n');
    let mut out: Vec<String> = lines.next().map(str::to_owned).into_iter().collect();
    for frame in lines {
        if frame.contains("vm:module") {
            out.push(frame.to_owned());
        }
        if let Some(at) = frame.find("@openfn/language-") {
            let tail = match sources.frame(frame) {
                Some((path, line, col, _)) => {
                    let from = path.find("@openfn/language-").unwrap_or(0);
                    let cache = sources.cache_suffix(&path);
                    format!("{}{cache}:{line}:{col}", &path[from..])
                }
                None => frame[at..].trim_end_matches(')').to_owned(),
            };
            out.push(format!("    {tail}"));
        }
    }
    out.join("\n")
}

/// An adaptor-realm error's message in V8's words, from the source line of its first frame.
pub(crate) fn adaptor_message(
    ctor: &str,
    message: &str,
    stack: &str,
    sources: &AdaptorSources,
) -> String {
    // the throw site: the first frame
    let first = stack.split('\n').nth(1).and_then(|f| sources.frame(f));
    match first {
        Some((_, _, col, Some(line))) => translate_at(ctor, message, Some(&line), col),
        _ => translate_at(ctor, message, None, 0),
    }
}

/// An adaptor-realm error as the kit reports it: the message in V8's words and the kit's
/// stack, whose first line carries the reworded message.
pub(crate) fn adaptor_error(
    message: &str,
    stack: &str,
    sources: &AdaptorSources,
) -> (String, String) {
    let header = stack.split('\n').next().unwrap_or("");
    let ctor = header
        .strip_suffix(message)
        .and_then(|h| h.strip_suffix(": "))
        .unwrap_or("");
    let reworded = adaptor_message(ctor, message, stack, sources);
    let mut stack = kit_stack(stack, sources);
    if reworded != message && !ctor.is_empty() {
        let rest = stack
            .split_once('\n')
            .map(|(_, r)| format!("\n{r}"))
            .unwrap_or_default();
        stack = format!("{ctor}: {reworded}{rest}");
    }
    (reworded, stack)
}

/// An error's stack as node's console prints it (the kit's text logger on
/// `console.log(new Error())`): the job's `vm:module(0)` frames with V8's columns (the first at
/// the `new` that made the error, callers at V8's call column), then every frame in a file on
/// disk (the adaptor and its dependencies) as a `file://` URL with V8's call column. Frames of
/// the runtime's own code have no file on disk and are left out (the kit's own runtime frames
/// follow there; the parity check leaves those out too).
pub(crate) fn console_stack(stack: &str, job: &str, sources: &AdaptorSources) -> String {
    let mut lines = stack.split('\n');
    let mut out: Vec<String> = lines.next().map(str::to_owned).into_iter().collect();
    for (i, frame) in lines.enumerate() {
        let Some((line, col)) = frame_position(frame) else {
            continue;
        };
        let text = frame.trim().trim_end_matches(')');
        let text = text.strip_prefix("at ").unwrap_or(text);
        let (name, place) = match text.rsplit_once(" (") {
            Some((name, place)) => (Some(name), place),
            None => (None, text),
        };
        let Some(file) = place.strip_suffix(&format!(":{line}:{col}")) else {
            continue;
        };
        let (file, column) = if file == "vm:module(0)" {
            // the error was made here (at a `new`: "" is no message positions.rs knows), or
            // this is a call further up
            let message = if i == 0 { "" } else { "x is not a function" };
            (
                file.to_owned(),
                v8_column(job, line, col, message).unwrap_or(col),
            )
        } else if file.starts_with('/') {
            let column = sources.frame(frame).map_or(col, |(_, _, col, _)| col);
            (format!("file://{file}"), column)
        } else {
            continue;
        };
        let place = format!("{file}:{line}:{column}");
        out.push(match name {
            Some(name) => format!("    at {name} ({place})"),
            None => format!("    at {place}"),
        });
    }
    out.join("\n")
}

/// Rewrite a step's error as the kit reports it: an adaptor error's message (and its details'
/// message) in V8's words, and for every error the kit's stack with the adaptor frames.
pub(crate) fn kit_error(error: &mut RtError, sources: &AdaptorSources) {
    let Some(stack) = error.stack.take() else {
        return;
    };
    if error.name == "AdaptorError" {
        let (message, stack) = adaptor_error(&error.message, &stack, sources);
        if let Some(Value::Object(details)) = &mut error.details
            && details.get("message").and_then(Value::as_str) == Some(error.message.as_str())
        {
            details.insert("message".into(), Value::String(message.clone()));
        }
        error.message = message;
        error.stack = Some(stack);
    } else {
        error.stack = Some(kit_stack(&stack, sources));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> Rc<dyn AdaptorHost> {
        Rc::new(crate::host::EsmHost)
    }

    fn adaptor() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir
            .path()
            .join("node_modules/@openfn/language-common_3.3.4/dist/index.js");
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(
            &file,
            "function fn(func) {\n  return (state) => {\n    return func(state);\n  };\n}\n",
        )
        .expect("write");
        (dir, file)
    }

    #[test]
    fn adaptor_frames_keep_the_package_path_and_v8s_call_column() {
        let (dir, file) = adaptor();
        let sources = AdaptorSources::new([dir.path().to_path_buf()], fs());
        let stack = format!(
            "TypeError: x\n    at vm:module(0):1:24\n    at {}:3:17\n    at openfn:job-realm:9:9",
            file.display()
        );
        assert_eq!(
            kit_stack(&stack, &sources),
            "TypeError: x\n    at vm:module(0):1:24\n    @openfn/language-common_3.3.4/dist/index.js:3:12"
        );
        let thrown = format!(
            "TypeError: not a function\n    at {}:3:17\n    at ",
            file.display()
        );
        assert_eq!(
            adaptor_error("not a function", &thrown, &sources),
            (
                "func is not a function".to_owned(),
                "TypeError: func is not a function\n    @openfn/language-common_3.3.4/dist/index.js:3:12".to_owned()
            )
        );
    }

    #[test]
    fn console_stacks_as_node_prints_them() {
        let (dir, file) = adaptor();
        let sources = AdaptorSources::new([dir.path().to_path_buf()], fs());
        let job = "import { fn } from '@openfn/language-common';\nexport default [fn(s => {\n  console.log(new Error('x'));\n  return s;\n})];";
        let stack = format!(
            "Error: x\n    at vm:module(0):3:19\n    at {}:3:17\n    at \n    at run (openfn:job-realm:9:9)",
            file.display()
        );
        assert_eq!(
            console_stack(&stack, job, &sources),
            format!(
                "Error: x\n    at vm:module(0):3:15\n    at file://{}:3:12",
                file.display()
            )
        );
    }

    #[test]
    fn entry_frames_carry_the_cache_key() {
        let (dir, file) = adaptor();
        let sources = AdaptorSources::new([dir.path().to_path_buf()], fs())
            .with_cache_key(vec![file.clone()], "run-1".into());
        let stack = format!(
            "TypeError: x\n    at vm:module(0):1:24\n    at {}:3:17",
            file.display()
        );
        assert_eq!(
            kit_stack(&stack, &sources),
            "TypeError: x\n    at vm:module(0):1:24\n    @openfn/language-common_3.3.4/dist/index.js?cache=run-1:3:12"
        );
        let other = AdaptorSources::new([dir.path().to_path_buf()], fs())
            .with_cache_key(vec![dir.path().join("other.js")], "run-1".into());
        assert!(!kit_stack(&stack, &other).contains("?cache="));
    }

    #[test]
    fn files_outside_the_roots_are_not_read() {
        let (_dir, file) = adaptor();
        let other = tempfile::tempdir().expect("temp dir");
        let sources = AdaptorSources::new([other.path().to_path_buf()], fs());
        let stack = format!("TypeError: not a function\n    at {}:3:17", file.display());
        assert_eq!(
            adaptor_message("TypeError", "not a function", &stack, &sources),
            "not a function"
        );
        assert_eq!(
            kit_stack(&stack, &sources),
            "TypeError: not a function\n    @openfn/language-common_3.3.4/dist/index.js:3:17"
        );
    }
}
