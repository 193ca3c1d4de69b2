//! Setting up a run's adaptor realm: the realm prelude (`js/adaptor_realm.js`: the `ADA`
//! console, V8-style stacks, the code generation guard) with the host's code generation rule,
//! then the [`AdaptorHost`]'s own setup, then the seal: the realm's intrinsics are frozen
//! (no job pollutes `Object.prototype` and friends) and recorded, and the code generation
//! guard checks them before every allowed request.

use std::rc::Rc;

use rquickjs::function::Func;
use rquickjs::{AsyncContext, AsyncRuntime, Function};

use crate::host::AdaptorHost;
use crate::linker::{Linker, LinkerData};
use crate::runner::{Limits, LogSink, host_object, realm_prelude};
use openfn_lexicon::log::names;

const ADAPTOR_REALM_JS: &str = include_str!("js/adaptor_realm.js");

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
            Func::from(move |frames: Vec<String>, complete: bool| {
                policy.codegen_allowed(&frames, complete)
            }),
        )?;
        let prelude = realm_prelude(&ctx, "openfn:adaptor-realm", ADAPTOR_REALM_JS)?;
        let seal: Function<'_> = prelude.call((hostobj,))?;
        host.init_realm(&ctx)?;
        // from here on, adaptor and job code alike find the intrinsics frozen
        seal.call::<_, ()>(())
    })
    .await?;
    Ok(ctx)
}
