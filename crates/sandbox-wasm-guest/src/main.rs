//! The wasm tier's guest: QuickJS (rquickjs) compiled to wasm32-wasip1.
//!
//! One instance runs one compiled job: the host hands in the job's ES module source and the
//! input state (JSON) through the `openfn` imports, the guest evaluates the module, runs its
//! default export (an array of operations) in order, awaiting each, and reports back through
//! `openfn.emit`, one JSON object per call:
//!
//! - `{"type":"log","level":"info","message":[...]}` for each console call;
//! - `{"type":"result","state":...}` when every operation ran;
//! - `{"type":"error","phase":"load"|"run","ctor":..,"name":..,"message":..,"stack":..}` when
//!   loading or an operation threw.
//!
//! The guest has no other authority: the host answers its WASI imports without files,
//! sockets, environment or arguments. Imports (adaptors) are refused in this job mode.
//!
//! With a third input (run options), the guest is in plan mode instead ([`plan`]): it runs a
//! whole execution plan through `openfn-runtime`, as the native tier does. The host may first
//! call `wizer-initialize` and snapshot the memory: an instance made from that snapshot starts
//! with the plan's adaptors already evaluated.

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Context, Ctx, Function, Module, Promise, Runtime, Value};

#[link(wasm_import_module = "openfn")]
unsafe extern "C" {
    /// Length in bytes of input `which` (0 = job source, 1 = state JSON).
    fn input_len(which: u32) -> u32;
    /// Copies input `which` to `ptr` (`input_len(which)` bytes).
    fn input_read(which: u32, ptr: *mut u8);
    /// One framed JSON message (UTF-8) to the host.
    fn emit(ptr: *const u8, len: u32);
    /// A request `op` with a JSON body to the host (plan mode); returns the reply's length.
    fn call(op: u32, ptr: *const u8, len: u32) -> u32;
    /// Copies the reply of the last `call` to `ptr`.
    fn reply_read(ptr: *mut u8);
}

mod plan;

/// QuickJS' own stack limit, well inside the 1 MiB wasm shadow stack, so deep recursion is a
/// catchable RangeError rather than a trap.
const MAX_STACK: usize = 256 * 1024;

/// The message in the error an import raises (the host maps it to ImportError).
const IMPORT_REFUSED: &str = "imports are not supported on the wasm tier yet";

/// console, error description and the operation loop, in JS.
const PRELUDE: &str = include_str!("prelude.js");

pub(crate) fn read_input(which: u32) -> String {
    // SAFETY: host imports with the documented contract: `input_len` bytes are written to a
    // buffer of exactly that length.
    #[allow(unsafe_code)]
    let bytes = unsafe {
        let len = input_len(which) as usize;
        let mut buf = vec![0u8; len];
        input_read(which, buf.as_mut_ptr());
        buf
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A request to the host and its (JSON) reply.
pub(crate) fn call_host(op: u32, request: &str) -> String {
    // SAFETY: the host reads `len` bytes at `ptr`, then writes exactly the returned number of
    // bytes to the buffer of that length.
    #[allow(unsafe_code)]
    let bytes = unsafe {
        let len = call(op, request.as_ptr(), request.len() as u32) as usize;
        let mut buf = vec![0u8; len];
        reply_read(buf.as_mut_ptr());
        buf
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) fn send(message: &str) {
    // SAFETY: the host reads `len` bytes at `ptr` from this instance's memory.
    #[allow(unsafe_code)]
    unsafe {
        emit(message.as_ptr(), message.len() as u32)
    }
}

/// Refuses every import with a message the host recognises.
struct Refuse;

impl Resolver for Refuse {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        _base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        Err(rquickjs::Error::new_resolving_message(
            "job.js",
            name,
            format!("Cannot import '{name}': {IMPORT_REFUSED}"),
        ))
    }
}

impl Loader for Refuse {
    fn load<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
        Err(rquickjs::Error::new_loading_message(
            name,
            format!("Cannot import '{name}': {IMPORT_REFUSED}"),
        ))
    }
}

/// The snapshot's initialisation, run by the host (wizer) before the memory snapshot: loads
/// the adaptor set named in the run options (input 2) into a QuickJS runtime kept for the
/// run (`_start`) of every instance made from the snapshot ([`plan::prepare`]).
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn initialize() {
    plan::prepare();
}

fn main() {
    let source = read_input(0);
    let state = read_input(1);
    let options = read_input(2);
    if !options.is_empty() {
        // plan mode: input 0 is the plan, 1 the input state, 2 the run options
        return plan::run(&source, &state, &options);
    }
    let Ok(rt) = Runtime::new() else {
        return fail_plain("load", "could not create the QuickJS runtime");
    };
    rt.set_max_stack_size(MAX_STACK);
    rt.set_loader(Refuse, Refuse);
    let Ok(ctx) = Context::full(&rt) else {
        return fail_plain("load", "could not create the QuickJS context");
    };
    ctx.with(|ctx| run(&ctx, source, state));
}

/// An error that never reached JS (the runtime itself failed); `name` is a kit class or null.
fn fail_plain(phase: &str, message: &str) {
    fail_named(phase, "null", message);
}

fn fail_named(phase: &str, name: &str, message: &str) {
    let message = message.replace('\\', "\\\\").replace('"', "\\\"");
    send(&format!(
        r#"{{"type":"error","phase":"{phase}","ctor":null,"name":{name},"message":"{message}","stack":null}}"#
    ));
}

fn run(ctx: &Ctx<'_>, source: String, state: String) {
    let setup = (|| -> rquickjs::Result<(Function<'_>, Function<'_>)> {
        let globals = ctx.globals();
        globals.set(
            "__openfn_emit",
            Function::new(ctx.clone(), |m: String| send(&m))?,
        )?;
        ctx.eval::<(), _>(PRELUDE)?;
        let run: Function<'_> = globals.get("__openfn_run")?;
        let fail: Function<'_> = globals.get("__openfn_fail")?;
        // The job cannot reach the reporting functions (it could fake a result otherwise).
        for name in ["__openfn_emit", "__openfn_run", "__openfn_fail"] {
            globals.remove(name)?;
        }
        Ok((run, fail))
    })();
    let Ok((run_ops, fail)) = setup else {
        return fail_plain("load", "could not set up the job realm");
    };
    let report = |phase: &str, e: rquickjs::Error| {
        let thrown: Value<'_> = if e.is_exception() {
            ctx.catch()
        } else {
            rquickjs::String::from_str(ctx.clone(), &e.to_string())
                .map(|s| s.into_value())
                .unwrap_or_else(|_| Value::new_undefined(ctx.clone()))
        };
        if fail.call::<_, ()>((phase, thrown)).is_err() {
            fail_plain(phase, &e.to_string());
        }
    };
    let loaded = (|| -> rquickjs::Result<Value<'_>> {
        let (module, done) = Module::declare(ctx.clone(), "job.js", source)?.eval()?;
        done.finish::<()>()?;
        module.namespace()?.get("default")
    })();
    let ops = match loaded {
        Ok(ops) => ops,
        Err(e) => return report("load", e),
    };
    let finished = run_ops
        .call::<_, Promise<'_>>((ops, state))
        .and_then(|p| p.finish::<()>());
    match finished {
        Ok(()) => {}
        Err(rquickjs::Error::WouldBlock) => fail_named(
            "run",
            "\"ExitError\"",
            "the job is waiting on a promise that can never settle (the wasm tier has no timers or I/O yet)",
        ),
        Err(e) => report("run", e),
    }
}
