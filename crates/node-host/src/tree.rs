//! The adaptor tree cache: one file per installed adaptor tree holding everything a run needs
//! to load the tree's modules without touching them one by one — every resolution made from
//! its files (`(conditions, importing dir, specifier) → path`), the format of every module file
//! and the compiled bytecode of every module. With it, loading an adaptor reads one file:
//! no per-module resolution, stat, read or hash.
//!
//! A *tree* is a package directory of the repo layout directly under a module root named
//! `node_modules`: `<root>/<name>_<version>` or `<root>/@scope/<name>_<version>`, with its own
//! `node_modules` inside. The repo publishes such a tree with one rename and never changes it
//! in place, so its identity is the tree directory's and its `package.json`'s metadata
//! (device, inode, size, modification and change times) together with the cache format and
//! the QuickJS build: a reinstall (a new directory) or a removal makes the file stale, and a
//! stale file is rebuilt, never used. The file carries an XXH3-128 checksum of its body (it
//! guards against corruption, as a torn or truncated write; whoever can write the cache can
//! write the adaptor's sources too); a file that does not verify is ignored and rebuilt. Files are written to a
//! unique temporary name and renamed into place, so concurrent writers (two runs building the
//! same tree at once) each publish a complete file and readers never see a partial one.
//!
//! The host's own built-in modules (compiled into the binary) get a tree of their own, whose
//! identity is the executable's metadata.
//!
//! Entries are recorded as the run resolves and compiles (from the per-file bytecode cache or
//! from source); [`TreeCache::persist`] writes the trees that learnt something.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_128;

use crate::util::lock;

const MAGIC: &[u8; 8] = b"OFNTREE2";
/// Bytecode is only valid for the QuickJS it was written by (as the per-file cache).
const ENGINE: &str = "rquickjs-0.14.0";
/// The largest file read (a corrupt length must not allocate without bound).
const MAX_FILE: u64 = 512 * 1024 * 1024;

/// Which resolver made a resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conditions {
    /// ESM `import` (`node`/`import`/`default`).
    Import = 0,
    /// CommonJS `require` (`node`/`require`/`default`).
    Require = 1,
}

/// What a bytecode entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// An ES module (`Module::write`).
    Esm = 0,
    /// A CommonJS wrapper function (a compiled script).
    Cjs = 1,
}

/// Bytecode: a range of a shared buffer (the file as read, or one recorded entry).
#[derive(Clone, Debug)]
pub(crate) struct Code {
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Code {
    fn new(bytes: &[u8]) -> Self {
        Self {
            buf: Arc::new(bytes.to_vec()),
            start: 0,
            end: bytes.len(),
        }
    }
}

impl std::ops::Deref for Code {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// Everything known about one tree.
#[derive(Default, Debug)]
struct Entries {
    /// `"<conditions>\0<dir>\0<spec>"` → resolved path.
    resolved: HashMap<String, String>,
    /// module path → format (the caller's encoding).
    kinds: HashMap<String, u8>,
    /// `"<kind>\0<path>"` → bytecode.
    code: HashMap<String, Code>,
}

/// The key of the built-in modules' tree.
const BUILTINS: &str = "<builtins>";

struct Tree {
    /// `None`: the tree cannot be identified (missing, unreadable): nothing is cached for it.
    identity: Option<String>,
    entries: Entries,
    /// Learnt something the file does not hold (or there was no valid file).
    dirty: bool,
}

/// The tree caches of one host (one file per tree under `dir`).
pub(crate) struct TreeCache {
    dir: PathBuf,
    /// The module roots named `node_modules` (repo layouts), with a trailing `/`.
    roots: Vec<String>,
    /// By tree directory.
    trees: Mutex<HashMap<String, Tree>>,
}

impl std::fmt::Debug for TreeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TreeCache {
    /// A cache writing under `dir` for trees under those of `roots` that are named
    /// `node_modules`.
    pub(crate) fn new(dir: PathBuf, roots: &[PathBuf]) -> Self {
        let roots = roots
            .iter()
            .filter(|r| r.file_name().is_some_and(|n| n == "node_modules"))
            .filter_map(|r| Some(format!("{}/", r.to_str()?.trim_end_matches('/'))))
            .collect();
        Self {
            dir,
            roots,
            trees: Mutex::new(HashMap::new()),
        }
    }

    /// The tree directory `path` is in (the path itself or below it), if any. Paths are the
    /// normalized absolute paths of the resolvers (this runs for every lookup: plain string
    /// work, no `Path` component walks).
    fn tree_of<'p>(&self, path: &'p Path) -> Option<&'p str> {
        let text = path.to_str()?;
        let root = self.roots.iter().find(|r| text.starts_with(r.as_str()))?;
        let rest = &text[root.len()..];
        let mut parts = rest.split('/');
        let first = parts
            .next()
            .filter(|f| !f.is_empty() && !f.starts_with('.'))?;
        let name = if first.starts_with('@') {
            parts.next().filter(|n| !n.is_empty())?
        } else {
            first
        };
        // the repo's alias layout: `<name>_<version>`
        let (_, version) = name.rsplit_once('_')?;
        if !version.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let len = root.len()
            + if first.starts_with('@') {
                first.len() + 1
            } else {
                0
            }
            + name.len();
        text.get(..len)
    }

    /// Runs `f` on the tree of `path` (loading its file on first use); `None` when `path` is
    /// in no cacheable tree.
    fn with_tree<R>(&self, path: &Path, f: impl FnOnce(&mut Entries, &mut bool) -> R) -> Option<R> {
        let root = self.tree_of(path)?;
        self.with_root(root, f)
    }

    fn with_root<R>(&self, root: &str, f: impl FnOnce(&mut Entries, &mut bool) -> R) -> Option<R> {
        let mut trees = lock(&self.trees);
        if !trees.contains_key(root) {
            let tree = self.open(root);
            trees.insert(root.to_owned(), tree);
        }
        let tree = trees.get_mut(root)?;
        tree.identity.as_ref()?;
        Some(f(&mut tree.entries, &mut tree.dirty))
    }

    fn file_for(&self, root: &str) -> PathBuf {
        let digest = Sha256::digest(root.as_bytes());
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.qtree"))
    }

    fn open(&self, root: &str) -> Tree {
        let Some(identity) = identity(root) else {
            return Tree {
                identity: None,
                entries: Entries::default(),
                dirty: false,
            };
        };
        match read_file(&self.file_for(root), &identity) {
            Some(entries) => Tree {
                identity: Some(identity),
                entries,
                dirty: false,
            },
            None => Tree {
                identity: Some(identity),
                entries: Entries::default(),
                dirty: true,
            },
        }
    }

    /// The cached resolution of `spec` from `dir`.
    pub(crate) fn resolved(&self, cond: Conditions, dir: &Path, spec: &str) -> Option<PathBuf> {
        let key = resolution_key(cond, dir, spec)?;
        self.with_tree(dir, |e, _| e.resolved.get(&key).map(PathBuf::from))
            .flatten()
    }

    /// Records a resolution made from `dir`.
    pub(crate) fn record_resolved(&self, cond: Conditions, dir: &Path, spec: &str, path: &Path) {
        let (Some(key), Some(path)) = (resolution_key(cond, dir, spec), path.to_str()) else {
            return;
        };
        self.with_tree(dir, |e, dirty| {
            if e.resolved.get(&key).is_none_or(|p| p != path) {
                e.resolved.insert(key, path.to_owned());
                *dirty = true;
            }
        });
    }

    /// The cached format of the module file at `path`.
    pub(crate) fn kind(&self, path: &Path) -> Option<u8> {
        let key = path.to_str()?;
        self.with_tree(path, |e, _| e.kinds.get(key).copied())
            .flatten()
    }

    /// Records the format of the module file at `path`.
    pub(crate) fn record_kind(&self, path: &Path, kind: u8) {
        let Some(key) = path.to_str() else { return };
        self.with_tree(path, |e, dirty| {
            if e.kinds.get(key) != Some(&kind) {
                e.kinds.insert(key.to_owned(), kind);
                *dirty = true;
            }
        });
    }

    /// The cached bytecode of the module file at `path`.
    pub(crate) fn code(&self, kind: CodeKind, path: &Path) -> Option<Code> {
        let key = code_key(kind, path)?;
        self.with_tree(path, |e, _| e.code.get(&key).cloned())
            .flatten()
    }

    /// Records the bytecode of the module file at `path`.
    pub(crate) fn record_code(&self, kind: CodeKind, path: &Path, bytes: &[u8]) {
        let Some(key) = code_key(kind, path) else {
            return;
        };
        self.with_tree(path, |e, dirty| {
            if e.code.get(&key).is_none_or(|b| **b != *bytes) {
                e.code.insert(key, Code::new(bytes));
                *dirty = true;
            }
        });
    }

    /// The cached bytecode of the built-in module `name`.
    pub(crate) fn builtin_code(&self, name: &str) -> Option<Code> {
        let key = format!("{}\0{name}", CodeKind::Cjs as u8);
        self.with_root(BUILTINS, |e, _| e.code.get(&key).cloned())
            .flatten()
    }

    /// Records the bytecode of the built-in module `name`.
    pub(crate) fn record_builtin(&self, name: &str, bytes: &[u8]) {
        let key = format!("{}\0{name}", CodeKind::Cjs as u8);
        self.with_root(BUILTINS, |e, dirty| {
            if e.code.get(&key).is_none_or(|b| **b != *bytes) {
                e.code.insert(key, Code::new(bytes));
                *dirty = true;
            }
        });
    }

    /// Writes the file of every tree that learnt something, unless the tree changed since it
    /// was first seen (reinstalled during the run: what was learnt may be of the old tree).
    /// Failures to write are ignored (the cache is an optimisation).
    pub(crate) fn persist(&self) {
        let mut trees = lock(&self.trees);
        for (root, tree) in trees.iter_mut() {
            let Some(id) = &tree.identity else { continue };
            if !tree.dirty || identity(root).as_ref() != Some(id) {
                continue;
            }
            if write_file(&self.file_for(root), id, &tree.entries).is_ok() {
                tree.dirty = false;
            }
        }
    }
}

fn resolution_key(cond: Conditions, dir: &Path, spec: &str) -> Option<String> {
    Some(format!("{}\0{}\0{spec}", cond as u8, dir.to_str()?))
}

fn code_key(kind: CodeKind, path: &Path) -> Option<String> {
    Some(format!("{}\0{}", kind as u8, path.to_str()?))
}

/// The identity of the tree at `root`: the cache format, the QuickJS build, the tree's path
/// and the metadata of the tree directory and its `package.json` (for the built-in modules,
/// of the executable they are compiled into).
/// Without Unix metadata (the wasm guest, which has no bytecode cache) a tree has no
/// identity, so no cache file is ever trusted.
#[cfg(not(unix))]
fn identity(_root: &str) -> Option<String> {
    None
}

/// See the non-Unix variant above.
#[cfg(unix)]
fn identity(root: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let (dir, pj) = if root == BUILTINS {
        let exe = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
        (exe.clone(), exe)
    } else {
        let root = Path::new(root);
        let pj = std::fs::metadata(root.join("package.json")).ok()?;
        (std::fs::metadata(root).ok()?, pj)
    };
    let stamp = |m: &std::fs::Metadata| {
        format!(
            "{}:{}:{}:{}.{}:{}.{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec()
        )
    };
    Some(format!(
        "{ENGINE} {} {} dir={} package.json={}",
        env!("CARGO_PKG_VERSION"),
        root,
        stamp(&dir),
        stamp(&pj)
    ))
}

/// The entries of the file at `path` if it verifies and belongs to `identity`.
fn read_file(path: &Path, identity: &str) -> Option<Entries> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len > MAX_FILE {
        return None;
    }
    let mut data = Vec::with_capacity(usize::try_from(len).ok()?);
    file.read_to_end(&mut data).ok()?;
    decode(Arc::new(data), identity)
}

/// Decodes a file's bytes: magic, body length, XXH3-128 of the body, body. The bytecode
/// entries stay ranges of `data`.
fn decode(data: Arc<Vec<u8>>, identity: &str) -> Option<Entries> {
    let mut r = Reader {
        data: &data,
        pos: 0,
    };
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let body_len = usize::try_from(u64::from_le_bytes(r.take(8)?.try_into().ok()?)).ok()?;
    let hash = r.take(16)?;
    let body = r.take(body_len)?;
    if r.pos != data.len() || xxh3_128(body).to_le_bytes() != hash {
        return None;
    }
    r.pos = MAGIC.len() + 8 + 16;
    if r.str()? != identity {
        return None;
    }
    let mut entries = Entries::default();
    for _ in 0..r.u32()? {
        let key = r.str()?.to_owned();
        entries.resolved.insert(key, r.str()?.to_owned());
    }
    for _ in 0..r.u32()? {
        let key = r.str()?.to_owned();
        entries.kinds.insert(key, *r.take(1)?.first()?);
    }
    for _ in 0..r.u32()? {
        let key = r.str()?.to_owned();
        let len = usize::try_from(r.u32()?).ok()?;
        let start = r.pos;
        r.take(len)?;
        let code = Code {
            buf: data.clone(),
            start,
            end: start + len,
        };
        entries.code.insert(key, code);
    }
    (r.pos == data.len()).then_some(entries)
}

fn encode(identity: &str, entries: &Entries) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    put_bytes(&mut body, identity.as_bytes())?;
    put_len(&mut body, entries.resolved.len())?;
    for (k, v) in &entries.resolved {
        put_bytes(&mut body, k.as_bytes())?;
        put_bytes(&mut body, v.as_bytes())?;
    }
    put_len(&mut body, entries.kinds.len())?;
    for (k, v) in &entries.kinds {
        put_bytes(&mut body, k.as_bytes())?;
        body.push(*v);
    }
    put_len(&mut body, entries.code.len())?;
    for (k, v) in &entries.code {
        put_bytes(&mut body, k.as_bytes())?;
        put_bytes(&mut body, v)?;
    }
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxh3_128(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Some(out)
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Option<()> {
    out.extend_from_slice(&u32::try_from(len).ok()?.to_le_bytes());
    Some(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Some(())
}

/// Writes the file through a unique temporary name and a rename.
fn write_file(path: &Path, identity: &str, entries: &Entries) -> std::io::Result<()> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let data = encode(identity, entries).ok_or_else(|| std::io::Error::other("too large"))?;
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = path.with_extension(format!(
        "{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = std::fs::write(&tmp, &data).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A bounds-checked reader of the file format.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let head = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }

    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entries {
        let mut e = Entries::default();
        e.resolved.insert("0\0/a\0./b".into(), "/a/b.js".into());
        e.kinds.insert("/a/b.js".into(), 1);
        e.code.insert("1\0/a/b.js".into(), Code::new(b"bytecode"));
        e
    }

    type Flat = (
        Vec<(String, String)>,
        Vec<(String, u8)>,
        Vec<(String, Vec<u8>)>,
    );

    fn flat(e: &Entries) -> Flat {
        let mut r: Vec<_> = e.resolved.clone().into_iter().collect();
        let mut k: Vec<_> = e.kinds.clone().into_iter().collect();
        let mut c: Vec<_> = e
            .code
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect();
        r.sort();
        k.sort();
        c.sort();
        (r, k, c)
    }

    fn decode_bytes(data: &[u8], id: &str) -> Option<Flat> {
        decode(Arc::new(data.to_vec()), id).map(|e| flat(&e))
    }

    #[test]
    fn round_trips_and_rejects_other_identities() {
        let data = encode("id", &sample()).unwrap();
        assert_eq!(decode_bytes(&data, "id"), Some(flat(&sample())));
        assert_eq!(decode_bytes(&data, "other id"), None);
    }

    #[test]
    fn any_flipped_or_missing_byte_is_rejected() {
        let data = encode("id", &sample()).unwrap();
        for i in 0..data.len() {
            let mut bad = data.clone();
            bad[i] ^= 0x01;
            assert_eq!(decode_bytes(&bad, "id"), None, "flipped byte {i} accepted");
        }
        for n in 0..data.len() {
            assert_eq!(
                decode_bytes(&data[..n], "id"),
                None,
                "truncation to {n} accepted"
            );
        }
    }

    #[test]
    fn trees_are_the_repo_alias_directories() {
        let cache = TreeCache::new(
            PathBuf::from("/c"),
            &[PathBuf::from("/r/node_modules"), PathBuf::from("/linked")],
        );
        let tree = |p: &str| cache.tree_of(Path::new(p)).map(str::to_owned);
        assert_eq!(
            tree("/r/node_modules/@openfn/language-common_3.3.4/node_modules/x/index.js"),
            Some("/r/node_modules/@openfn/language-common_3.3.4".to_owned())
        );
        assert_eq!(
            tree("/r/node_modules/@openfn/language-common_3.3.4"),
            Some("/r/node_modules/@openfn/language-common_3.3.4".to_owned())
        );
        assert_eq!(
            tree("/r/node_modules/plain_1.0.0/index.js"),
            Some("/r/node_modules/plain_1.0.0".to_owned())
        );
        assert_eq!(
            tree("/r/node_modules/@openfn/x_1.0.0-y"),
            Some("/r/node_modules/@openfn/x_1.0.0-y".to_owned())
        );
        assert_eq!(tree("/r/node_modules/.cache/x_1.0.0/y"), None);
        assert_eq!(tree("/r/node_modules/no-version/index.js"), None);
        assert_eq!(tree("/linked/x_1.0.0/index.js"), None);
    }
}
