//! The host's answers to a plan-mode guest's requests (`openfn.call`): module files, resolved
//! and read only under the roots the host was given (the adaptor repo's `node_modules` and
//! linked adaptor directories), and HTTP through the host's reqwest client under its policy.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use openfn_lexicon::wasm_call::{
    CANONICALIZE, CREDENTIAL, DATACLIP, HTTP, KIND, READ, RESOLVE_IMPORT, RESOLVE_REQUIRE,
};
use openfn_node_host::{FsModules, HostPolicy, HttpRequest, HttpTransport, ModuleSource};
use serde_json::{Value, json};

/// Answers a plan's credential and dataclip lookups (the worker's callbacks). Called on the
/// thread running the guest, which waits for the answer.
pub trait PlanResolver: Send + Sync {
    /// The credential `id` (a step's string `configuration`).
    fn credential(&self, id: &str) -> Result<Value, String>;
    /// The dataclip `id` (an input given by id).
    fn dataclip(&self, id: &str) -> Result<Value, String>;
}

/// What a plan-mode guest may reach: files under `roots` (read-only) and HTTP under `policy`.
pub(crate) struct GuestAccess {
    pub(crate) roots: Vec<PathBuf>,
    pub(crate) modules: Arc<FsModules>,
    pub(crate) http: Arc<dyn HttpTransport>,
    pub(crate) policy: HostPolicy,
    pub(crate) tokio: Option<tokio::runtime::Runtime>,
    pub(crate) resolver: Option<Arc<dyn PlanResolver>>,
    /// Called with each message as the guest sends it (see [`crate::PlanOptions::on_message`]).
    pub(crate) on_message: Option<MessageHook>,
}

/// A per-message callback: the guest's message and the fuel the run had used when it was sent.
/// Called on the thread running the guest, inside the guest's call: keep it quick.
pub type MessageHook = Arc<dyn Fn(&crate::message::GuestMessage, u64) + Send + Sync>;

impl GuestAccess {
    /// The canonical `path` when it is absolute, has no `..`, and (symlinks resolved) lies
    /// under a root; missing, outside and refused all look the same to the guest.
    fn allowed(&self, path: &Path) -> Result<PathBuf, String> {
        let refused = || format!("Cannot find module '{}'", path.display());
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return Err(refused());
        }
        let real = path.canonicalize().map_err(|_| refused())?;
        if self.roots.iter().any(|r| real.starts_with(r)) {
            Ok(real)
        } else {
            Err(refused())
        }
    }

    /// Answers request `op` with body `request`: `{"ok": ...}` or `{"err": "..."}`.
    pub(crate) fn answer(&mut self, op: u32, request: &[u8]) -> Vec<u8> {
        let reply = match serde_json::from_slice::<Value>(request) {
            Ok(req) => self.dispatch(op, &req),
            Err(e) => Err(format!("a malformed request: {e}")),
        };
        let v = match reply {
            Ok(ok) => json!({ "ok": ok }),
            Err(err) => json!({ "err": err }),
        };
        v.to_string().into_bytes()
    }

    fn dispatch(&mut self, op: u32, req: &Value) -> Result<Value, String> {
        let path = |key: &str| -> Result<PathBuf, String> {
            req.get(key)
                .and_then(Value::as_str)
                .map(PathBuf::from)
                .ok_or_else(|| format!("no {key}"))
        };
        match op {
            RESOLVE_IMPORT | RESOLVE_REQUIRE => {
                let spec = req.get("spec").and_then(Value::as_str).unwrap_or_default();
                // an absolute specifier is resolved from `/` (only the result matters);
                // anything else from a directory under a root
                let dir = if Path::new(spec).is_absolute() {
                    PathBuf::from("/")
                } else {
                    self.allowed(&path("dir")?)?
                };
                let found = if op == RESOLVE_IMPORT {
                    self.modules.resolve_import(spec, &dir)?
                } else {
                    self.modules.resolve_require(spec, &dir)?
                };
                let found = self.allowed(&found)?;
                Ok(json!(found))
            }
            KIND => {
                let p = self.allowed(&path("path")?)?;
                Ok(json!(self.modules.kind(&p).as_str()))
            }
            READ => {
                let p = self.allowed(&path("path")?)?;
                std::fs::read_to_string(&p)
                    .map(Value::String)
                    .map_err(|_| format!("Cannot find module '{}'", p.display()))
            }
            CANONICALIZE => Ok(json!(self.allowed(&path("path")?)?)),
            HTTP => self.http(req),
            CREDENTIAL | DATACLIP => {
                let id = req.get("id").and_then(Value::as_str).unwrap_or_default();
                match (&self.resolver, op) {
                    (Some(r), CREDENTIAL) => r.credential(id),
                    (Some(r), _) => r.dataclip(id),
                    (None, CREDENTIAL) => Err(format!("no credential resolver for {id}")),
                    (None, _) => Err(format!("no state resolver for {id}")),
                }
            }
            _ => Err(format!("unknown request {op}")),
        }
    }

    fn http(&mut self, req: &Value) -> Result<Value, String> {
        let req: HttpRequest = serde_json::from_value(req.clone()).map_err(|e| e.to_string())?;
        if self.tokio.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            self.tokio = Some(rt);
        }
        let rt = self.tokio.as_ref().ok_or("no runtime")?;
        let result = rt.block_on(self.http.send(&self.policy, req));
        serde_json::to_value(result).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(root: &Path) -> GuestAccess {
        GuestAccess {
            roots: vec![root.canonicalize().expect("root")],
            modules: Arc::new(FsModules::new()),
            http: Arc::new(openfn_node_host::NoHttp),
            policy: HostPolicy::deny_all(),
            tokio: None,
            resolver: None,
            on_message: None,
        }
    }

    fn ask(a: &mut GuestAccess, op: u32, req: Value) -> Value {
        serde_json::from_slice(&a.answer(op, req.to_string().as_bytes())).expect("json reply")
    }

    #[test]
    fn reads_only_under_the_roots() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("node_modules");
        std::fs::create_dir_all(root.join("pkg")).expect("mkdir");
        std::fs::write(root.join("pkg/index.js"), "export default 1;").expect("write");
        std::fs::write(dir.path().join("secret.js"), "secret").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.js"), root.join("pkg/link.js"))
            .expect("symlink");
        let mut a = access(&root);
        let inside = root.join("pkg/index.js");
        assert_eq!(
            ask(&mut a, READ, json!({ "path": inside })),
            json!({ "ok": "export default 1;" })
        );
        let refused = [
            dir.path().join("secret.js"),
            root.join("pkg/../../secret.js"),
            root.join("pkg/link.js"),
            PathBuf::from("pkg/index.js"),
        ];
        for p in refused {
            let reply = ask(&mut a, READ, json!({ "path": p }));
            assert!(
                reply.get("err").is_some(),
                "{} was readable: {reply}",
                p.display()
            );
        }
        let found = ask(
            &mut a,
            RESOLVE_IMPORT,
            json!({ "spec": "./index.js", "dir": root.join("pkg") }),
        );
        assert_eq!(
            found,
            json!({ "ok": inside.canonicalize().expect("canonical") })
        );
        let out = ask(
            &mut a,
            RESOLVE_IMPORT,
            json!({ "spec": "../../secret.js", "dir": root.join("pkg") }),
        );
        assert!(out.get("err").is_some(), "{out}");
    }

    #[test]
    fn http_goes_through_the_transport() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut a = access(dir.path());
        let req = json!({ "method": "GET", "url": "http://127.0.0.1:9/", "headers": [],
            "body": null, "max_redirections": 0, "tls": { "reject_unauthorized": true,
            "ca": null, "cert": null, "key": null, "pfx": false }, "timeout_ms": null });
        let reply = ask(&mut a, HTTP, req);
        assert_eq!(
            reply["ok"]["Err"]["code"],
            json!("ERR_HOST_NOT_ALLOWED"),
            "{reply}"
        );
    }
}
