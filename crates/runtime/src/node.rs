//! The bridge that makes the Node-compatible host (`openfn-node-host`) the adaptor realm of a
//! run: Node globals and built-ins installed on the adaptor context, Node module resolution
//! (ESM, CommonJS, JSON, `node:` built-ins) for every import made from adaptor code. The
//! adaptor entry itself is chosen as the kit does (§2.10: `exports["."].import` before `main`).

use openfn_node_host::NodeHost;
use rquickjs::loader::{Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Module};

use crate::host::AdaptorHost;

/// An [`AdaptorHost`] backed by a [`NodeHost`], for real adaptors installed from npm.
pub struct NodeAdaptorHost {
    host: NodeHost,
}

impl NodeAdaptorHost {
    /// Wrap a node host (share one `NodeHost` per process: it caches resolution and bytecode).
    pub fn new(host: NodeHost) -> Self {
        NodeAdaptorHost { host }
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
        self.host
            .install(ctx)
            .map_err(|e| rquickjs::Error::new_loading_message("node host", e.to_string()))
    }

    fn resolve(&self, ctx: &Ctx<'_>, base: &str, name: &str) -> rquickjs::Result<String> {
        // resolvers and loaders are cheap handles on the host's shared state; a fresh one per
        // call keeps re-entrant loads (CommonJS `require` during a load) working
        self.host.resolver().resolve(ctx, base, name, None)
    }

    fn load<'js>(&self, ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Module<'js, Declared>> {
        self.host.loader().load(ctx, name, None)
    }
}
