//! The bridge that makes the Node-compatible host (`openfn-node-host`) the adaptor realm of a
//! run: Node globals and built-ins installed on the adaptor context, Node module resolution
//! (ESM, CommonJS, JSON, `node:` built-ins) for every import made from adaptor code. The
//! adaptor entry itself is chosen as the kit does (§2.10: `exports["."].import` before `main`;
//! the node host's own `package_entry` picks `main` for a package directory and so would load
//! the CommonJS build of dual packages). The runtime's adaptor console (`ADA` lines) is kept:
//! the host's Node globals are installed around it.

use std::path::Path;
use std::rc::Rc;

use openfn_node_host::{HostOptions, HostPolicy, NodeHost};
use rquickjs::loader::{Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Module, Value};

use crate::host::AdaptorHost;
use crate::runner::RunOptions;

/// An [`AdaptorHost`] backed by a [`NodeHost`], for real adaptors installed from npm. Cheap to
/// clone; share one per process so the resolution cache, bytecode cache and HTTP connection
/// pools are reused across runs.
#[derive(Clone)]
pub struct NodeAdaptorHost {
    host: NodeHost,
}

impl NodeAdaptorHost {
    /// Wrap a node host (share one `NodeHost` per process: it caches resolution and bytecode).
    /// Installs the process-wide rustls crypto provider (ring) if none is yet: the host's HTTP
    /// client is built lazily with reqwest's `rustls-no-provider`, which panics without one
    /// (in an engine child nothing else installs it).
    pub fn new(host: NodeHost) -> Self {
        #[cfg(feature = "native")]
        let _ = rustls::crypto::ring::default_provider().install_default();
        NodeAdaptorHost { host }
    }

    /// The host for adaptors installed in the repo at `repo`: modules may load from
    /// `<repo>/node_modules`, HTTP may go to `allowed_hosts` (`*` for any host, as the kit), and
    /// bytecode is cached in `<repo>/node_modules/.cache/openfn-bytecode` when `cache_bytecode`
    /// is set (inside `node_modules`, as npm's own caches, so it never lands in a source tree).
    pub fn for_repo(repo: &Path, allowed_hosts: &[&str], cache_bytecode: bool) -> Self {
        Self::for_repo_and_links(repo, &[], allowed_hosts, cache_bytecode)
    }

    /// As [`NodeAdaptorHost::for_repo`], and modules may also load from `linked` directories:
    /// adaptors a plan links to a local build (`linker[name].path`, the CLI's `-a x=/path` and
    /// monorepo adaptors).
    pub fn for_repo_and_links(
        repo: &Path,
        linked: &[std::path::PathBuf],
        allowed_hosts: &[&str],
        cache_bytecode: bool,
    ) -> Self {
        let mut policy = HostPolicy::deny_all().allow_modules_under(repo.join("node_modules"));
        for dir in linked {
            policy = policy.allow_modules_under(dir.clone());
        }
        for pattern in allowed_hosts {
            policy = policy.allow_host(*pattern);
        }
        let options = HostOptions {
            bytecode_dir: cache_bytecode.then(|| {
                repo.join("node_modules")
                    .join(".cache")
                    .join("openfn-bytecode")
            }),
            ..HostOptions::default()
        };
        Self::new(NodeHost::with_options(policy, options))
    }

    /// The wrapped host.
    pub fn host(&self) -> &NodeHost {
        &self.host
    }
}

impl std::fmt::Debug for NodeAdaptorHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeAdaptorHost")
            .field("host", &self.host)
            .finish()
    }
}

impl AdaptorHost for NodeAdaptorHost {
    fn init_realm(&self, ctx: &Ctx<'_>) -> rquickjs::Result<()> {
        // Keep the runtime's console (ADA log lines) over the host's.
        let console: Value<'_> = ctx.globals().get("console")?;
        self.host
            .install(ctx)
            .map_err(|e| rquickjs::Error::new_loading_message("node host", e.to_string()))?;
        if !console.is_undefined() {
            ctx.globals().set("console", console)?;
        }
        Ok(())
    }

    fn resolve(&self, ctx: &Ctx<'_>, base: &str, name: &str) -> rquickjs::Result<String> {
        // resolvers and loaders are cheap handles on the host's shared state; a fresh one per
        // call keeps re-entrant loads (CommonJS `require` during a load) working
        self.host.resolver().resolve(ctx, base, name, None)
    }

    fn load<'js>(&self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>> {
        self.host.loader().load(ctx, name, None)
    }

    fn read_text(&self, path: &Path) -> std::io::Result<String> {
        self.host.read_text(path)
    }

    fn adaptor_loaded(&self) {
        self.host.save_module_cache();
    }
}

impl RunOptions {
    /// Run options for adaptors installed in the repo at `repo`, loaded by `host`.
    pub fn with_node_host(repo: &Path, host: NodeAdaptorHost) -> Self {
        RunOptions {
            repo: Some(repo.to_path_buf()),
            adaptor_host: Rc::new(host),
            ..RunOptions::default()
        }
    }
}
