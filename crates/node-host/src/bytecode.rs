//! The QuickJS bytecode cache: each module file (ES module, or CommonJS wrapper function) is
//! compiled once and its bytecode stored under the cache directory, keyed by a SHA-256 of the
//! cache format, the rquickjs version, the module name and its source. A file holds a magic
//! tag, the SHA-256 of the bytecode and the bytecode; anything that does not verify is ignored
//! and recompiled. Only bytes this module wrote are ever handed to QuickJS's bytecode reader.
//!
//! Module files of an installed adaptor tree go through the tree cache first (`tree.rs`: one
//! file per tree, read once per process); what the per-file path compiles is recorded there.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Ctx, Function, Module, Value, qjs};
use sha2::{Digest, Sha256};

use crate::tree::{CodeKind, TreeCache};

const MAGIC: &[u8; 8] = b"OFNQBC1\0";
/// Bytecode is only valid for the QuickJS it was written by.
const ENGINE: &str = "rquickjs-0.14.0";

pub(crate) struct BytecodeCache {
    dir: PathBuf,
    trees: Arc<TreeCache>,
}

impl BytecodeCache {
    /// A cache under `dir`, with tree caches (under `dir/trees`) for the adaptor trees of
    /// `module_roots`.
    pub(crate) fn new(dir: PathBuf, module_roots: &[PathBuf]) -> Self {
        let trees = Arc::new(TreeCache::new(dir.join("trees"), module_roots));
        Self { dir, trees }
    }

    /// The tree caches (the resolvers share them).
    #[cfg_attr(
        not(feature = "native"),
        allow(dead_code, reason = "only the native module source caches resolutions")
    )]
    pub(crate) fn trees(&self) -> Arc<TreeCache> {
        self.trees.clone()
    }

    /// Declares the ES module file `name` (an absolute path): from its adaptor tree's cache,
    /// else from this cache or compiled from `read()`'s source (and recorded in the tree).
    pub(crate) fn declare_module_file<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        read: impl FnOnce() -> rquickjs::Result<String>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let path = Path::new(name);
        if let Some(bytes) = self.trees.code(CodeKind::Esm, path)
            && let Ok(m) = load_module(ctx, &bytes)
        {
            return Ok(m);
        }
        let source = read()?;
        let (module, bytes) = self.declare_module_bytes(ctx, name, &source)?;
        if let Some(bytes) = bytes {
            self.trees.record_code(CodeKind::Esm, path, &bytes);
        }
        Ok(module)
    }

    /// The CommonJS wrapper function of the module file `path`: from its adaptor tree's
    /// cache, else from this cache or compiled from `read()`'s source (and recorded).
    pub(crate) fn compile_cjs_file<'js>(
        &self,
        ctx: &Ctx<'js>,
        path: &str,
        params: &[&str],
        read: impl FnOnce() -> rquickjs::Result<String>,
    ) -> rquickjs::Result<Function<'js>> {
        let file = Path::new(path);
        if let Some(bytes) = self.trees.code(CodeKind::Cjs, file)
            && let Some(f) = eval_script_bytecode(ctx, &bytes)
        {
            return Ok(f);
        }
        let source = read()?;
        let (f, bytes) = self.compile_cjs_bytes(ctx, &source, path, params)?;
        if let Some(bytes) = bytes {
            self.trees.record_code(CodeKind::Cjs, file, &bytes);
        }
        Ok(f)
    }

    /// Writes the tree caches that learnt something.
    pub(crate) fn persist_trees(&self) {
        self.trees.persist();
    }

    fn key(kind: &str, name: &str, source: &str) -> String {
        let mut h = Sha256::new();
        h.update(MAGIC);
        h.update(ENGINE.as_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(source.as_bytes());
        to_hex(&h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.qbc"))
    }

    fn read(&self, key: &str) -> Option<Vec<u8>> {
        let data = std::fs::read(self.path(key)).ok()?;
        if data.len() < 40 || &data[..8] != MAGIC {
            return None;
        }
        let (hash, body) = data[8..].split_at(32);
        (Sha256::digest(body).as_slice() == hash).then(|| body.to_vec())
    }

    fn write(&self, key: &str, bytes: &[u8]) {
        let path = self.path(key);
        let Some(parent) = path.parent() else { return };
        if std::fs::create_dir_all(parent).is_err() {
            return;
        }
        let mut data = Vec::with_capacity(bytes.len() + 40);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&Sha256::digest(bytes));
        data.extend_from_slice(bytes);
        let tmp = parent.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, &data).is_ok() && std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Declares the ES module `name` from the cache, or compiles `source` and caches it; with
    /// the module's bytecode when there is one.
    fn declare_module_bytes<'js>(
        &self,
        ctx: &Ctx<'js>,
        name: &str,
        source: &str,
    ) -> rquickjs::Result<(Module<'js, Declared>, Option<Vec<u8>>)> {
        let key = Self::key("esm", name, source);
        if let Some(bytes) = self.read(&key)
            && let Ok(m) = load_module(ctx, &bytes)
        {
            return Ok((m, Some(bytes)));
        }
        let module = Module::declare(ctx.clone(), name, source)?;
        let bytes = module.write(WriteOptions::default()).ok();
        if let Some(bytes) = &bytes {
            self.write(&key, bytes);
        }
        Ok((module, bytes))
    }

    /// The CommonJS wrapper function of the host's built-in module `filename` (its `source`
    /// is compiled into the binary): from the built-ins' tree, else from this cache or
    /// compiled (and recorded in the tree).
    pub(crate) fn compile_cjs<'js>(
        &self,
        ctx: &Ctx<'js>,
        source: &str,
        filename: &str,
        params: &[&str],
    ) -> rquickjs::Result<Function<'js>> {
        if let Some(bytes) = self.trees.builtin_code(filename)
            && let Some(f) = eval_script_bytecode(ctx, &bytes)
        {
            return Ok(f);
        }
        let (f, bytes) = self.compile_cjs_bytes(ctx, source, filename, params)?;
        if let Some(bytes) = bytes {
            self.trees.record_builtin(filename, &bytes);
        }
        Ok(f)
    }

    /// As `compile_cjs`, with the function's bytecode when there is one.
    fn compile_cjs_bytes<'js>(
        &self,
        ctx: &Ctx<'js>,
        source: &str,
        filename: &str,
        params: &[&str],
    ) -> rquickjs::Result<(Function<'js>, Option<Vec<u8>>)> {
        let key = Self::key("cjs", filename, source);
        if let Some(bytes) = self.read(&key)
            && let Some(f) = eval_script_bytecode(ctx, &bytes)
        {
            return Ok((f, Some(bytes)));
        }
        let text = crate::util::wrap_source(source, params);
        match compile_script_bytecode(ctx, &text, filename)? {
            Some((bytes, f)) => {
                self.write(&key, &bytes);
                Ok((f, Some(bytes)))
            }
            None => crate::util::compile_script(ctx, source, filename, params).map(|f| (f, None)),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(unsafe_code, reason = "loading QuickJS bytecode is unsafe in rquickjs")]
fn load_module<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> rquickjs::Result<Module<'js, Declared>> {
    // SAFETY: `bytes` were written by `Module::write` of this same rquickjs/QuickJS build
    // (the cache key includes the engine version) and verified against their SHA-256.
    unsafe { Module::load(ctx.clone(), bytes) }
}

#[allow(
    unsafe_code,
    reason = "rquickjs has no API for script bytecode; this is the FFI seam"
)]
fn eval_script_bytecode<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Option<Function<'js>> {
    // SAFETY: `bytes` were written by `JS_WriteObject` of this same QuickJS build for a compiled
    // script and verified against their SHA-256; `JS_ReadObject` copies them. The returned
    // values are owned and handed to rquickjs (`Value::from_raw` takes ownership).
    unsafe {
        let raw = ctx.as_raw().as_ptr();
        let obj = qjs::JS_ReadObject(
            raw,
            bytes.as_ptr(),
            bytes.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        if qjs::JS_IsException(obj) {
            let _ = ctx.catch();
            return None;
        }
        let v = qjs::JS_EvalFunction(raw, obj);
        if qjs::JS_IsException(v) {
            let _ = ctx.catch();
            return None;
        }
        Value::from_raw(ctx.clone(), v).into_function()
    }
}

type Compiled<'js> = Option<(Vec<u8>, Function<'js>)>;

#[allow(
    unsafe_code,
    reason = "rquickjs has no API for script bytecode; this is the FFI seam"
)]
fn compile_script_bytecode<'js>(
    ctx: &Ctx<'js>,
    text: &str,
    filename: &str,
) -> rquickjs::Result<Compiled<'js>> {
    let (Ok(src), Ok(fname)) = (CString::new(text), CString::new(filename)) else {
        return Ok(None);
    };
    // SAFETY: `src` is NUL-terminated as JS_Eval requires and outlives the call; the compiled
    // function object is owned by us until `JS_EvalFunction` consumes it; the written buffer
    // is copied and freed with `js_free` of the same context.
    unsafe {
        let raw = ctx.as_raw().as_ptr();
        let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
        let obj = qjs::JS_Eval(raw, src.as_ptr(), text.len() as _, fname.as_ptr(), flags);
        if qjs::JS_IsException(obj) {
            return Err(rquickjs::Error::Exception);
        }
        let mut len = 0;
        let buf = qjs::JS_WriteObject(raw, &mut len, obj, qjs::JS_WRITE_OBJ_BYTECODE as i32);
        let bytes = if buf.is_null() {
            let _ = ctx.catch();
            None
        } else {
            let v = std::slice::from_raw_parts(buf, len as _).to_vec();
            qjs::js_free(raw, buf.cast());
            Some(v)
        };
        let v = qjs::JS_EvalFunction(raw, obj);
        if qjs::JS_IsException(v) {
            return Err(rquickjs::Error::Exception);
        }
        let f = Value::from_raw(ctx.clone(), v).into_function();
        Ok(match (bytes, f) {
            (Some(b), Some(f)) => Some((b, f)),
            _ => None,
        })
    }
}

/// Removes every cached file under `dir` (for benchmarks and tests).
pub fn clear_cache(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}
