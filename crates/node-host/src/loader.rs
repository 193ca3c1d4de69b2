//! `NodeLoader`, the rquickjs `Loader` of the node host: ES module files are compiled (from
//! the bytecode cache when there is one); built-ins, CommonJS and JSON files are evaluated by
//! the realm's CommonJS system at load time and exposed through a small facade module whose
//! `default` is `module.exports` and whose named exports are its identifier keys.

use std::path::Path;
use std::sync::Arc;

use rquickjs::loader::ImportAttributes;
use rquickjs::module::Declared;
use rquickjs::{Ctx, Function, Module};

use crate::builtins::builtin_id;
use crate::host::{INTERNAL_GLOBAL, Shared, internal};
use crate::resolve::ModuleKind;

/// The rquickjs module loader of the node host. Loads `node:<name>` built-ins and module files
/// under the policy's module roots; leaves every other name to the next loader of a tuple.
#[derive(Clone)]
pub struct NodeLoader {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for NodeLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeLoader")
    }
}

impl rquickjs::loader::Loader for NodeLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        if let Some(id) = builtin_id(name) {
            return facade(ctx, &id);
        }
        let path = Path::new(name);
        if !path.is_absolute() {
            return Err(rquickjs::Error::new_loading(name));
        }
        if !self.shared.policy.path_allowed(path) {
            return Err(rquickjs::Error::new_loading_message(
                name,
                "outside the allowed module roots",
            ));
        }
        match self.shared.resolvers.kind(path) {
            ModuleKind::Esm => {
                let source = std::fs::read_to_string(path)
                    .map_err(|e| rquickjs::Error::new_loading_message(name, e.to_string()))?;
                let module = match &self.shared.bytecode {
                    Some(cache) => cache.declare_module(ctx, name, &source)?,
                    None => Module::declare(ctx.clone(), name, source)?,
                };
                if let Ok(meta) = module.meta() {
                    let url = url::Url::from_file_path(path)
                        .map(String::from)
                        .unwrap_or_else(|()| format!("file://{name}"));
                    meta.set("url", url)?;
                    meta.set("filename", name)?;
                    meta.set(
                        "dirname",
                        path.parent().map(|p| p.to_string_lossy().into_owned()),
                    )?;
                }
                Ok(module)
            }
            ModuleKind::CommonJs | ModuleKind::Json => facade(ctx, name),
        }
    }
}

/// Declares the facade module over the CommonJS exports of `id` (evaluating it now).
fn facade<'js>(ctx: &Ctx<'js>, id: &str) -> rquickjs::Result<Module<'js, Declared>> {
    let internal = internal(ctx)?;
    let names_fn: Function<'js> = internal.get("exportNames")?;
    let names: Vec<String> = match names_fn.call((id,)) {
        Ok(n) => n,
        Err(e) => {
            let text = crate::error::describe_js_error(ctx, e);
            return Err(rquickjs::Error::new_loading_message(id, text));
        }
    };
    let id_lit = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    let mut src = format!(
        "const __m = globalThis.{INTERNAL_GLOBAL}.esmExports({id_lit});\nexport default __m;\n"
    );
    for (i, n) in names.iter().enumerate() {
        src.push_str(&format!(
            "const __e{i} = __m[\"{n}\"];\nexport {{ __e{i} as {n} }};\n"
        ));
    }
    Module::declare(ctx.clone(), id, src)
}
