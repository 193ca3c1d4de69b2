//! `NodeLoader`, the rquickjs `Loader` of the node host: ES module files are compiled (from
//! the bytecode cache when there is one); built-ins, CommonJS and JSON files are evaluated by
//! the realm's CommonJS system at load time and exposed through a small facade module whose
//! `default` is `module.exports` and whose named exports are its identifier keys.

use std::path::Path;
use std::sync::Arc;

use rquickjs::loader::ImportAttributes;
use rquickjs::module::{Declarations, Declared, Exports, ModuleDef};
use rquickjs::{Ctx, Function, Module, Value};

use crate::builtins::builtin_id;
use crate::host::{NodeHost, internal};
use crate::shared::Shared;
use crate::source::ModuleKind;
use crate::util::not_found;

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
        // missing, unreadable and not allowed look the same (no file-system oracle)
        if !self.shared.policy.path_allowed(path) {
            return Err(not_found(ctx, name));
        }
        match self.shared.resolvers.kind(path) {
            ModuleKind::Esm => {
                let read = || {
                    self.shared
                        .resolvers
                        .read_text(path)
                        .map_err(|_| not_found(ctx, name))
                };
                let module = match &self.shared.bytecode {
                    Some(cache) => cache.declare_module_file(ctx, name, read)?,
                    None => Module::declare(ctx.clone(), name, read()?)?,
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

/// Declares the facade module over the CommonJS exports of `id` (evaluating it now, so that its
/// errors are load errors). The facade is a native module: it reaches the realm's internal
/// object through the runtime, not through anything the realm can see.
fn facade<'js>(ctx: &Ctx<'js>, id: &str) -> rquickjs::Result<Module<'js, Declared>> {
    if let Err(e) = export_names(ctx, id) {
        let text = crate::error::describe_js_error(ctx, e);
        return Err(rquickjs::Error::new_loading_message(id, text));
    }
    Module::declare_def::<Facade, _>(ctx.clone(), id)
}

/// The identifier keys of `module.exports` of `id` (loading it on first use).
fn export_names(ctx: &Ctx<'_>, id: &str) -> rquickjs::Result<Vec<String>> {
    let names: Function<'_> = internal(ctx)?.get("exportNames")?;
    names.call((id,))
}

/// The ES module view of a CommonJS module, built-in or JSON file: `default` is
/// `module.exports`, the named exports are its identifier keys.
struct Facade;

impl ModuleDef for Facade {
    fn declare<'js>(decl: &Declarations<'js>) -> rquickjs::Result<()> {
        let id: String = decl.module().name()?;
        decl.declare("default")?;
        for name in export_names(decl.module().ctx(), &id)? {
            decl.declare(name)?;
        }
        Ok(())
    }

    fn evaluate<'js>(ctx: &Ctx<'js>, exports: &Exports<'js>) -> rquickjs::Result<()> {
        let id: String = exports.module().name()?;
        let esm: Function<'js> = internal(ctx)?.get("esmExports")?;
        let value: Value<'js> = esm.call((id.as_str(),))?;
        exports.export("default", value.clone())?;
        let object = value.as_object().cloned();
        for name in export_names(ctx, &id)? {
            let v: Value<'js> = match &object {
                Some(o) => o.get::<_, Value<'js>>(name.as_str())?,
                None => Value::new_undefined(ctx.clone()),
            };
            exports.export(name, v)?;
        }
        Ok(())
    }
}

/// The rquickjs module resolver of the node host. Resolves built-ins (`node:x` and bare `x`,
/// plus `undici`, which the host implements) to `node:<name>`, and specifiers imported from a
/// module file (an absolute path) by Node's ESM rules to absolute paths inside the allowed
/// module roots. Anything else is left to the next resolver of a tuple.
#[derive(Clone)]
pub struct NodeResolver {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for NodeResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeResolver")
    }
}

impl NodeResolver {
    /// Resolves `name` imported from `base` without a JS context (what `resolve` does).
    pub fn resolve_path(&self, base: &str, name: &str) -> Result<String, String> {
        if let Some(id) = builtin_id(name) {
            return Ok(id);
        }
        let name_path = Path::new(name);
        let dir = if name_path.is_absolute() {
            Path::new("/")
        } else if base.starts_with('/') {
            Path::new(base).parent().unwrap_or(Path::new("/"))
        } else {
            return Err(format!("not a node module importer: {base}"));
        };
        // missing and not allowed are the same error, naming only the specifier
        let not_found = || format!("Cannot find module '{name}'");
        let path = self
            .shared
            .resolvers
            .resolve_import(name, dir)
            .map_err(|_| not_found())?;
        if !self.shared.policy.path_allowed(&path) {
            return Err(not_found());
        }
        Ok(path.to_string_lossy().into_owned())
    }
}

impl rquickjs::loader::Resolver for NodeResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        if !base.starts_with('/') && builtin_id(name).is_none() && !Path::new(name).is_absolute() {
            // not an importer of ours: leave it to the next resolver of a tuple
            return Err(rquickjs::Error::new_resolving_message(
                base,
                name,
                "not a node module importer",
            ));
        }
        self.resolve_path(base, name)
            .map_err(|_| not_found(ctx, name))
    }
}

impl NodeHost {
    /// The module resolver to give `Runtime::set_loader` (alone or in a tuple).
    pub fn resolver(&self) -> NodeResolver {
        NodeResolver {
            shared: self.shared.clone(),
        }
    }

    /// The module loader to give `Runtime::set_loader` (alone or in a tuple).
    pub fn loader(&self) -> NodeLoader {
        NodeLoader {
            shared: self.shared.clone(),
        }
    }
}
