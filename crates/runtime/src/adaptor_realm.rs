//! Setting up a run's adaptor realm: the realm prelude (`js/adaptor_realm.js`: the `ADA`
//! console, V8-style stacks, the code generation guard) with the host's code generation rule,
//! then the [`AdaptorHost`]'s own setup, then the seal: the realm's intrinsics are frozen
//! (no job pollutes `Object.prototype` and friends) and recorded, and the code generation
//! guard checks them before every allowed request.

use std::rc::Rc;

use rquickjs::function::Func;
use rquickjs::{AsyncContext, AsyncRuntime, Ctx, Function};

use crate::host::AdaptorHost;
use crate::linker::{Linker, LinkerData};
use crate::runner::{Limits, LogSink, host_object, realm_prelude};
use openfn_lexicon::log::names;

const ADAPTOR_REALM_JS: &str = include_str!("js/adaptor_realm.js");
/// The module name of the adaptor realm's prelude (the code generation guard's own frames).
const PRELUDE: &str = "openfn:adaptor-realm";
/// A stack has ended after this many levels in a row without a script or module (native
/// frames have none; no real stack has this many natives in a row).
const END_OF_STACK: usize = 64;
/// Stacks are read at most this deep (QuickJS' own stack limit stops JS long before).
const MAX_LEVELS: usize = 100_000;

/// The files of the non-native frames of the whole stack, nearest caller first, without the
/// guard's own frames. Read level by level from the engine's frames, which job code cannot
/// forge; call sites (`Error.captureStackTrace`) would stop at 64 frames, which ajv compiling
/// its meta-schemas exceeds.
fn stack_files(ctx: &Ctx<'_>) -> Vec<String> {
    let mut files = Vec::new();
    let mut misses = 0;
    for level in 0..MAX_LEVELS {
        let Ok(level) = isize::try_from(level) else {
            break;
        };
        match ctx.script_or_module_name(level) {
            Some(atom) => {
                misses = 0;
                let file = atom.to_string().unwrap_or_default();
                if file != PRELUDE {
                    files.push(file);
                }
            }
            None => {
                misses += 1;
                if misses >= END_OF_STACK {
                    break;
                }
            }
        }
    }
    files
}

/// A new adaptor realm in `rt`, set up by `host`, its module loads routed to `linker`.
pub(crate) async fn create(
    rt: &AsyncRuntime,
    log: LogSink,
    limits: Rc<Limits>,
    host: Rc<dyn AdaptorHost>,
    linker: Rc<Linker>,
) -> rquickjs::Result<AsyncContext> {
    let ctx = AsyncContext::full(rt).await?;
    ctx.async_with(async |ctx| -> rquickjs::Result<()> {
        *linker.adaptor_ctx.borrow_mut() = Some(ctx.as_raw());
        let _ = ctx.store_userdata(LinkerData(linker.clone()));
        let hostobj = host_object(&ctx, log, limits, names::ADAPTOR)?;
        let policy = host.clone();
        hostobj.set(
            "codegenAllowed",
            Func::from(move |ctx: Ctx<'_>| policy.codegen_allowed(&stack_files(&ctx))),
        )?;
        let prelude = realm_prelude(&ctx, PRELUDE, ADAPTOR_REALM_JS)?;
        let seal: Function<'_> = prelude.call((hostobj,))?;
        host.init_realm(&ctx)?;
        // from here on, adaptor and job code alike find the intrinsics frozen
        seal.call::<_, ()>(())
    })
    .await?;
    Ok(ctx)
}
