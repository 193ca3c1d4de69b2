//! The job realm of a step: its host object, globals, kit prelude, module assembly and the state it returns.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use rquickjs::function::{Async, Func};
use rquickjs::{Ctx, Function, Module, Object, Persistent, Promise, Value};
use serde_json::Value as Json;

use crate::adaptor_stack::{AdaptorSources, console_stack};
use crate::error::{RtError, Severity};
use crate::events::{StateJson, parse_level};
use crate::host::AdaptorHost;
use crate::linker::{Linker, LinkerData};
use openfn_lexicon::log::{LogLine, names};

use super::classify::*;
use super::options::*;

const JOB_REALM_JS: &str = include_str!("../js/job_realm.js");
const REALM_COMMON_JS: &str = include_str!("../js/realm_common.js");
/// Module names of the realm preludes (keys of the bytecode cache).
pub(super) const JOB_REALM_PRELUDE: &str = "openfn:job-realm";
pub(super) const CONDITION_REALM_PRELUDE: &str = "openfn:condition-realm";
const JOB_MODULE: &str = "vm:module(0)";

pub(super) const CONDITION_REALM_JS: &str = r#"(function (host, common) {
  'use strict';
  common.blockCodeGeneration(globalThis);
  const emit = (level) => (...args) => { try { host.log(level, JSON.stringify(args)); } catch (e) {} };
  globalThis.console = Object.freeze({ log: emit('info'), info: emit('info'), debug: emit('debug'), warn: emit('warn'), error: emit('error') });
})"#;

pub(super) struct StepJsOptions {
    pub(super) immutable: bool,
    pub(super) remove: Vec<String>,
    pub(super) globals: Option<String>,
    pub(super) workflow_globals: Option<String>,
    pub(super) credentials: Option<String>,
    pub(super) limit_bytes: usize,
    pub(super) limit_mb: f64,
    /// A memory limit is set: a thrown `null` (QuickJS could not even allocate the error
    /// object) is then taken as out-of-memory.
    pub(super) null_is_oom: bool,
    /// The step's timeout, logged as the kit does (`Timeout set to <ms>ms`).
    pub(super) timeout_ms: Option<u64>,
    /// `RunOptions::console_text`.
    pub(super) console_text: bool,
    /// Where the run's adaptors are (stacks printed by the text console name their files).
    pub(super) adaptor_roots: Vec<PathBuf>,
    /// Reads the adaptors' files for those stacks.
    pub(super) adaptor_host: Rc<dyn AdaptorHost>,
}

pub(super) enum StepOutcome {
    Done {
        state: Option<String>,
        removed: Vec<String>,
    },
    Failed {
        state: Option<String>,
        removed: Vec<String>,
        error: Box<RtError>,
    },
    Engine(String),
}

/// The host functions a realm prelude gets: log, rt (runtime log), sleep, oom, random.
pub(crate) fn host_object<'js>(
    ctx: &Ctx<'js>,
    log: LogSink,
    limits: Rc<Limits>,
    name: &'static str,
) -> rquickjs::Result<Object<'js>> {
    let obj = Object::new(ctx.clone())?;
    let l = log.clone();
    obj.set(
        "log",
        Func::from(move |level: String, text: String| {
            let message = match serde_json::from_str::<Json>(&text) {
                Ok(Json::Array(items)) => items,
                Ok(other) => vec![other],
                Err(_) => vec![Json::String(text)],
            };
            l(LogLine::now(parse_level(&level), name, message));
        }),
    )?;
    obj.set(
        "rt",
        Func::from(move |level: String, text: String| {
            log(LogLine::now(
                parse_level(&level),
                names::RUNTIME,
                vec![Json::String(text)],
            ));
        }),
    )?;
    obj.set(
        "sleep",
        Func::from(Async(|ms: f64| async move {
            openfn_node_host::timers::sleep(Duration::from_micros((ms.max(0.0) * 1000.0) as u64))
                .await;
        })),
    )?;
    obj.set("oom", Func::from(move || limits.oom.set(true)))?;
    obj.set("random", Func::from(crate::random::next_f64))?;
    Ok(obj)
}

/// Everything a step does inside its fresh job context.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the values are the step's inputs"
)]
pub(super) async fn step_in_context<'js>(
    ctx: &Ctx<'js>,
    warm_kit: Option<Persistent<Object<'static>>>,
    expression: &str,
    input: Option<StateJson>,
    configuration: Option<String>,
    default_state: Option<String>,
    opts: &StepJsOptions,
    log: LogSink,
    limits: Rc<Limits>,
    linker: Rc<Linker>,
) -> StepOutcome {
    let _ = ctx.store_userdata(LinkerData(linker.clone()));
    let kit = match warm_kit {
        // the realm was set up ahead: its prelude already ran
        Some(kit) => kit.restore(ctx),
        None => setup_kit(ctx, log, limits),
    };
    let kit = match kit {
        Ok(k) => k,
        Err(e) => return StepOutcome::Engine(describe_engine_error(ctx, e)),
    };
    // state assembly
    let state: Value<'js> = match assemble(ctx, &kit, input, configuration, default_state, opts) {
        Ok(s) => s,
        Err(e) => return StepOutcome::Engine(describe_engine_error(ctx, e)),
    };
    let globals = match build_globals(ctx, opts).await {
        Ok(g) => g,
        Err(e) => {
            let error = classify(
                ctx,
                &kit,
                e,
                Some("[globals] "),
                opts.workflow_globals.as_deref().unwrap_or_default(),
                opts.null_is_oom,
            );
            return fail_with(ctx, &kit, &state, opts, error);
        }
    };
    if opts.console_text
        && let Err(e) = text_console(ctx, &kit, expression, opts)
    {
        return StepOutcome::Engine(e.to_string());
    }
    let install: Function<'_> = match kit.get("install") {
        Ok(f) => f,
        Err(e) => return StepOutcome::Engine(e.to_string()),
    };
    if let Err(e) = install.call::<_, ()>((globals, state.clone())) {
        return StepOutcome::Engine(describe_engine_error(ctx, e));
    }
    let result = run_module(ctx, &kit, expression, state.clone(), opts).await;
    let _ = kit
        .get::<_, Function<'_>>("teardown")
        .and_then(|f| f.call::<_, ()>(()));
    match result {
        Ok(value) => finalize(ctx, &kit, &value, opts, None),
        Err(e) => {
            let error = match linker.import_error.borrow_mut().take() {
                Some(ie) => ie,
                None => classify(ctx, &kit, e, None, expression, opts.null_is_oom),
            };
            fail_with(ctx, &kit, &state, opts, error)
        }
    }
}

/// The text logger's console: an error's stack printed as node prints it
/// (`adaptor_stack::console_stack`).
fn text_console<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    expression: &str,
    opts: &StepJsOptions,
) -> rquickjs::Result<()> {
    let job = expression.to_owned();
    let sources = AdaptorSources::new(
        opts.adaptor_roots.iter().cloned(),
        opts.adaptor_host.clone(),
    );
    let map = Function::new(ctx.clone(), move |stack: String| {
        console_stack(&stack, &job, &sources)
    })?;
    kit.get::<_, Function<'_>>("textConsole")?
        .call::<_, ()>((map,))
}

pub(super) fn fail_with<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    state: &Value<'js>,
    opts: &StepJsOptions,
    error: RtError,
) -> StepOutcome {
    finalize(ctx, kit, state, opts, Some(error))
}

pub(super) fn setup_kit<'js>(
    ctx: &Ctx<'js>,
    log: LogSink,
    limits: Rc<Limits>,
) -> rquickjs::Result<Object<'js>> {
    let hostobj = host_object(ctx, log, limits, names::JOB)?;
    let prelude = realm_prelude(ctx, JOB_REALM_PRELUDE, JOB_REALM_JS)?;
    prelude.call((hostobj,))
}

thread_local! {
    /// Realm preludes compiled once per thread, by name (stripped bytecode: several times
    /// faster to load than parsing the source in every fresh context).
    static PRELUDE_BYTECODE: std::cell::RefCell<HashMap<&'static str, Rc<Vec<u8>>>> =
        std::cell::RefCell::new(HashMap::new());
}

/// A realm's setup function: `prelude` (a `(host, common) => …` function expression) with
/// `realm_common.js` evaluated in the same realm and passed as `common`; call it with the
/// host object.
pub(crate) fn realm_prelude<'js>(
    ctx: &Ctx<'js>,
    name: &'static str,
    prelude: &str,
) -> rquickjs::Result<Function<'js>> {
    let bytes = prelude_bytecode(ctx, name, prelude)?;
    let module = load_bytecode(ctx, &bytes)?;
    let (module, _) = module.eval()?;
    module.get("default")
}

/// The bytecode of a realm prelude (see [`realm_prelude`]), compiled in `ctx` on this thread's
/// first use and cached.
fn prelude_bytecode(
    ctx: &Ctx<'_>,
    name: &'static str,
    prelude: &str,
) -> rquickjs::Result<Rc<Vec<u8>>> {
    if let Some(bytes) = PRELUDE_BYTECODE.with(|c| c.borrow().get(name).cloned()) {
        return Ok(bytes);
    }
    let src = format!(
        "export default function (host) {{ return ({})(host, ({})(host)); }}",
        prelude.trim().trim_end_matches(';'),
        REALM_COMMON_JS.trim().trim_end_matches(';')
    );
    let module = Module::declare(ctx.clone(), name, src)?;
    let bytes = Rc::new(module.write(rquickjs::WriteOptions {
        strip_debug: true,
        strip_source: true,
        ..rquickjs::WriteOptions::default()
    })?);
    PRELUDE_BYTECODE.with(|c| c.borrow_mut().insert(name, bytes.clone()));
    Ok(bytes)
}

/// Compiles the job and condition realm preludes into this thread's cache (in `ctx`, a
/// scratch context: nothing is evaluated), so that runs forked from a template find them
/// compiled instead of parsing them for every run.
pub(crate) fn warm_preludes(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    prelude_bytecode(ctx, JOB_REALM_PRELUDE, JOB_REALM_JS)?;
    prelude_bytecode(ctx, CONDITION_REALM_PRELUDE, CONDITION_REALM_JS)?;
    Ok(())
}

#[allow(
    unsafe_code,
    reason = "rquickjs only loads module bytecode through an unsafe fn"
)]
pub(super) fn load_bytecode<'js>(
    ctx: &Ctx<'js>,
    bytes: &[u8],
) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
    // SAFETY: the bytes were produced by `Module::write` from the prelude source by this same
    // binary (same QuickJS version and build) on this thread, and are never modified.
    unsafe { Module::load(ctx.clone(), bytes) }
}

/// States this big are parsed with the cycle collector held off ([`NoCycleCollection`]).
const BIG_STATE_BYTES: usize = 1024 * 1024;

/// Holds off QuickJS' cycle collector while a big state is parsed: everything it would scan is
/// live (the state being built), and a collection at every 50% of heap growth took a tenth of a
/// big step's time. The threshold comes back on drop (the next allocation then collects once).
/// The memory limit still applies.
struct NoCycleCollection {
    rt: *mut rquickjs::qjs::JSRuntime,
    threshold: rquickjs::qjs::size_t,
}

#[allow(
    unsafe_code,
    reason = "rquickjs has no safe access to the GC threshold from inside a context"
)]
impl NoCycleCollection {
    fn new(ctx: &Ctx<'_>) -> Self {
        // SAFETY: the context pointer is live for `ctx`'s lifetime and this thread holds the
        // runtime's lock (we are inside its `with`); the guard is dropped within the same call.
        unsafe {
            let rt = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
            let threshold = rquickjs::qjs::JS_GetGCThreshold(rt);
            rquickjs::qjs::JS_SetGCThreshold(rt, rquickjs::qjs::size_t::MAX);
            Self { rt, threshold }
        }
    }
}

#[allow(unsafe_code, reason = "see NoCycleCollection::new")]
impl Drop for NoCycleCollection {
    fn drop(&mut self) {
        // SAFETY: as in `new`: same runtime, same thread, still inside its `with`.
        unsafe { rquickjs::qjs::JS_SetGCThreshold(self.rt, self.threshold) }
    }
}

pub(super) fn assemble<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    input: Option<StateJson>,
    configuration: Option<String>,
    default_state: Option<String>,
    opts: &StepJsOptions,
) -> rquickjs::Result<Value<'js>> {
    let parse = |t: Option<&str>| -> rquickjs::Result<Value<'js>> {
        match t {
            Some(t) => ctx.json_parse(t),
            None => Ok(Value::new_undefined(ctx.clone())),
        }
    };
    let f: Function<'_> = kit.get("assemble")?;
    // Parsed from the text as it is (no copy into a JS string first): QuickJS' JSON.parse, in
    // this step's realm.
    let prev = {
        let _no_gc = input
            .as_ref()
            .filter(|t| t.as_str().len() >= BIG_STATE_BYTES)
            .map(|_| NoCycleCollection::new(ctx));
        parse(input.as_ref().map(StateJson::as_str))?
    };
    f.call((
        prev,
        parse(configuration.as_deref())?,
        parse(default_state.as_deref())?,
        parse(opts.credentials.as_deref())?,
    ))
}

pub(super) async fn build_globals<'js>(
    ctx: &Ctx<'js>,
    opts: &StepJsOptions,
) -> rquickjs::Result<Object<'js>> {
    let globals = Object::new(ctx.clone())?;
    if let Some(g) = &opts.globals {
        let v: Value<'_> = ctx.json_parse(g.as_str())?;
        if let Some(o) = v.as_object() {
            for k in o.keys::<String>() {
                let k = k?;
                globals.set(k.as_str(), o.get::<_, Value<'_>>(k.as_str())?)?;
            }
        }
    }
    if let Some(src) = &opts.workflow_globals {
        let module = Module::declare(ctx.clone(), "vm:globals", src.as_str())?;
        let (module, promise) = module.eval()?;
        promise.into_future::<()>().await?;
        let ns = module.namespace()?;
        for k in ns.keys::<String>() {
            let k = k?;
            globals.set(k.as_str(), ns.get::<_, Value<'_>>(k.as_str())?)?;
        }
    }
    Ok(globals)
}

pub(super) async fn run_module<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    expression: &str,
    state: Value<'js>,
    opts: &StepJsOptions,
) -> rquickjs::Result<Value<'js>> {
    let module = Module::declare(ctx.clone(), JOB_MODULE, expression)?;
    let (module, promise) = module.eval()?;
    promise.into_future::<()>().await?;
    let ns = module.namespace()?;
    let run: Function<'_> = kit.get("runOperations")?;
    let js_opts = Object::new(ctx.clone())?;
    js_opts.set("immutableState", opts.immutable)?;
    if let Some(ms) = opts.timeout_ms.filter(|ms| *ms > 0) {
        js_opts.set("timeoutMs", ms as f64)?;
    }
    let p: Promise<'_> = run.call((ns, state, js_opts))?;
    p.into_future::<Value<'_>>().await
}

pub(super) fn finalize<'js>(
    ctx: &Ctx<'js>,
    kit: &Object<'js>,
    value: &Value<'js>,
    opts: &StepJsOptions,
    error: Option<RtError>,
) -> StepOutcome {
    let out = (|| -> rquickjs::Result<(Option<String>, Vec<String>)> {
        let f: Function<'_> = kit.get("finalize")?;
        let res: Object<'_> = f.call((value.clone(), opts.remove.clone()))?;
        let text: Option<String> = res.get("text")?;
        let removed: Vec<String> = res.get("removed")?;
        Ok((text, removed))
    })();
    match out {
        Ok((text, removed)) => {
            if let Some(t) = &text
                && t.len() > opts.limit_bytes
            {
                return StepOutcome::Failed {
                    state: None,
                    removed,
                    error: Box::new(RtError::state_too_large(opts.limit_mb)),
                };
            }
            match error {
                Some(error) => StepOutcome::Failed {
                    state: text,
                    removed,
                    error: Box::new(error),
                },
                None => StepOutcome::Done {
                    state: text,
                    removed,
                },
            }
        }
        Err(e) => {
            let msg = describe_engine_error(ctx, e);
            match error {
                Some(error) => StepOutcome::Failed {
                    state: None,
                    removed: vec![],
                    error: Box::new(error),
                },
                None => StepOutcome::Failed {
                    state: None,
                    removed: vec![],
                    error: Box::new(RtError::new("JobError", Severity::Fail, msg)),
                },
            }
        }
    }
}

/// CJS/ESM export shaping of §2.10.
pub(super) fn shape_exports<'js>(ctx: &Ctx<'js>, ns: Object<'js>) -> rquickjs::Result<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    let keys: Vec<String> = ns.keys::<String>().collect::<rquickjs::Result<_>>()?;
    let default: Option<Object<'_>> = ns.get::<_, Value<'_>>("default")?.into_object();
    let mut source = ns.clone();
    if let Some(d) = &default {
        let esm_flag: bool = d
            .get::<_, Value<'_>>("__esModule")?
            .as_bool()
            .unwrap_or(false);
        let dd: Option<Object<'_>> = d.get::<_, Value<'_>>("default")?.into_object();
        if esm_flag && let Some(dd) = dd {
            source = dd;
        } else if keys.len() == 1
            && keys[0] == "default"
            && d.keys::<String>().next().is_some()
            && !d.is_function()
        {
            source = d.clone();
        }
    }
    for k in source.keys::<String>() {
        let k = k?;
        out.set(k.as_str(), source.get::<_, Value<'_>>(k.as_str())?)?;
    }
    if source == ns {
        return Ok(out);
    }
    Ok(out)
}

/// Module specifiers of static `import … from "x"`, `export … from "x"` and `import "x"`
/// statements (a cheap scan used to load adaptors before the job module links; anything it
/// misses is still loaded on demand).
pub(super) fn imported_specifiers(source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in source.lines() {
        let t = line.trim_start();
        if !(t.starts_with("import") || t.starts_with("export")) {
            continue;
        }
        let rest = match t.rfind(" from ") {
            Some(i) => &t[i + 6..],
            None if t.starts_with("import ")
                || t.starts_with("import\"")
                || t.starts_with("import'") =>
            {
                t.trim_start_matches("import")
            }
            None => continue,
        };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = rest[1..].find(quote) {
            let spec = rest[1..1 + end].to_string();
            if !out.contains(&spec) {
                out.push(spec);
            }
        }
    }
    out
}
