//! The host side of one guest instance: its inputs, the messages it sends, its memory limit,
//! and the only imports it gets: `openfn.*` and the few WASI p1 functions QuickJS and Rust's
//! std need, answered here without any file, socket, environment or argument.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use wasmtime::{Caller, Extern, Linker, Memory, ResourceLimiter, StoreLimits};

use crate::files::GuestAccess;
use crate::message::GuestMessage;

/// WASI errno values used here.
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const ERRNO_SPIPE: i32 = 70;

/// Bytes of the guest's stdout/stderr kept (diagnostics only; QuickJS rarely prints).
const STDIO_CAP: usize = 64 * 1024;

/// The guest called `proc_exit`.
#[derive(Debug, thiserror::Error)]
#[error("the guest exited with code {0}")]
pub(crate) struct Exit(pub(crate) i32);

/// The guest's messages went over the output cap.
#[derive(Debug, thiserror::Error)]
#[error("the guest's output exceeded {0} bytes")]
pub(crate) struct OutputTooLarge(pub(crate) usize);

/// `StoreLimits`, plus a note of whether it refused to grow memory (an OOM) and the peak.
pub(crate) struct Limiter {
    pub(crate) inner: StoreLimits,
    pub(crate) refused: bool,
    pub(crate) peak: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.inner.memory_growing(current, desired, maximum);
        match &r {
            Ok(true) => self.peak = self.peak.max(desired),
            _ => self.refused = true,
        }
        r
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }
}

/// The store's data for one run.
pub(crate) struct Host {
    /// 0 = the job's module source (or the plan), 1 = the input state (JSON), 2 = the run
    /// options (plan mode only; empty in job mode).
    pub(crate) inputs: [Vec<u8>; 3],
    pub(crate) messages: Vec<GuestMessage>,
    /// The fuel used when each message arrived (per-step fuel in plan mode).
    pub(crate) fuel_at: Vec<u64>,
    /// The fuel the run started with.
    pub(crate) fuel_start: u64,
    /// What a plan-mode guest may reach (`openfn.call`); `None` refuses every request.
    pub(crate) access: Option<GuestAccess>,
    /// The reply to the guest's last `openfn.call`.
    pub(crate) reply: Vec<u8>,
    pub(crate) limiter: Limiter,
    pub(crate) output_bytes: usize,
    pub(crate) output_cap: usize,
    /// The guest's stdout+stderr (capped), for diagnostics.
    pub(crate) stdio: Vec<u8>,
    pub(crate) started: Instant,
}

fn memory(caller: &mut Caller<'_, Host>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::Error::msg("the guest exports no memory")),
    }
}

fn read(caller: &mut Caller<'_, Host>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let mut buf = vec![0u8; len as u32 as usize];
    mem.read(&*caller, ptr as u32 as usize, &mut buf)
        .map_err(|e| wasmtime::Error::msg(e.to_string()))?;
    Ok(buf)
}

fn write(caller: &mut Caller<'_, Host>, ptr: i32, bytes: &[u8]) -> bool {
    memory(caller)
        .ok()
        .is_some_and(|m| m.write(&mut *caller, ptr as u32 as usize, bytes).is_ok())
}

/// The `openfn` imports: inputs in, framed messages out.
fn add_openfn(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    linker.func_wrap("openfn", "input_len", |c: Caller<'_, Host>, which: i32| {
        c.data()
            .inputs
            .get(which as u32 as usize)
            .map_or(0, |i| i.len() as i32)
    })?;
    linker.func_wrap(
        "openfn",
        "input_read",
        |mut c: Caller<'_, Host>, which: i32, ptr: i32| -> wasmtime::Result<()> {
            let input = c
                .data()
                .inputs
                .get(which as u32 as usize)
                .cloned()
                .unwrap_or_default();
            if write(&mut c, ptr, &input) {
                Ok(())
            } else {
                Err(wasmtime::Error::msg("input_read: bad pointer"))
            }
        },
    )?;
    linker.func_wrap(
        "openfn",
        "emit",
        |mut c: Caller<'_, Host>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let host = c.data_mut();
            host.output_bytes += len as u32 as usize;
            if host.output_bytes > host.output_cap {
                return Err(wasmtime::Error::new(OutputTooLarge(host.output_cap)));
            }
            let bytes = read(&mut c, ptr, len)?;
            let message: GuestMessage = serde_json::from_slice(&bytes)
                .map_err(|e| wasmtime::Error::msg(format!("a malformed guest message: {e}")))?;
            let used = c
                .data()
                .fuel_start
                .saturating_sub(c.get_fuel().unwrap_or(0));
            // streamed: lines and events go to the hook only; the outcome keeps the end
            let hook = c.data().access.as_ref().and_then(|a| a.on_message.clone());
            if let Some(hook) = hook {
                hook(&message, used);
                if matches!(
                    message,
                    GuestMessage::Line { .. } | GuestMessage::Event { .. }
                ) {
                    return Ok(());
                }
            }
            c.data_mut().messages.push(message);
            c.data_mut().fuel_at.push(used);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "openfn",
        "call",
        |mut c: Caller<'_, Host>, op: i32, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let request = read(&mut c, ptr, len)?;
            let host = c.data_mut();
            let reply = match host.access.as_mut() {
                Some(access) => access.answer(op as u32, &request),
                None => br#"{"err":"this run may not reach modules or HTTP"}"#.to_vec(),
            };
            let n = reply.len() as i32;
            host.reply = reply;
            Ok(n)
        },
    )?;
    linker.func_wrap(
        "openfn",
        "reply_read",
        |mut c: Caller<'_, Host>, ptr: i32| -> wasmtime::Result<()> {
            let reply = std::mem::take(&mut c.data_mut().reply);
            if write(&mut c, ptr, &reply) {
                Ok(())
            } else {
                Err(wasmtime::Error::msg("reply_read: bad pointer"))
            }
        },
    )?;
    Ok(())
}

/// The WASI p1 functions the guest imports, with no authority: no environment, no files, a
/// clock, randomness, and stdout/stderr into a capped diagnostics buffer.
fn add_wasi(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    const W: &str = "wasi_snapshot_preview1";
    linker.func_wrap(W, "environ_get", |_: Caller<'_, Host>, _: i32, _: i32| {
        ERRNO_SUCCESS
    })?;
    linker.func_wrap(
        W,
        "environ_sizes_get",
        |mut c: Caller<'_, Host>, count: i32, size: i32| {
            if write(&mut c, count, &0u32.to_le_bytes()) && write(&mut c, size, &0u32.to_le_bytes())
            {
                ERRNO_SUCCESS
            } else {
                ERRNO_FAULT
            }
        },
    )?;
    linker.func_wrap(
        W,
        "clock_time_get",
        |mut c: Caller<'_, Host>, id: i32, _precision: i64, out: i32| {
            let nanos = match id {
                0 => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
                1..=3 => c.data().started.elapsed().as_nanos() as u64,
                _ => return ERRNO_INVAL,
            };
            if write(&mut c, out, &nanos.to_le_bytes()) {
                ERRNO_SUCCESS
            } else {
                ERRNO_FAULT
            }
        },
    )?;
    linker.func_wrap(
        W,
        "random_get",
        |mut c: Caller<'_, Host>, ptr: i32, len: i32| {
            let mut buf = vec![0u8; len as u32 as usize];
            rand::rng().fill_bytes(&mut buf);
            if write(&mut c, ptr, &buf) {
                ERRNO_SUCCESS
            } else {
                ERRNO_FAULT
            }
        },
    )?;
    linker.func_wrap(W, "fd_close", |_: Caller<'_, Host>, _: i32| ERRNO_BADF)?;
    linker.func_wrap(
        W,
        "fd_seek",
        |_: Caller<'_, Host>, fd: i32, _: i64, _: i32, _: i32| {
            if (0..=2).contains(&fd) {
                ERRNO_SPIPE
            } else {
                ERRNO_BADF
            }
        },
    )?;
    linker.func_wrap(
        W,
        "fd_fdstat_get",
        |mut c: Caller<'_, Host>, fd: i32, out: i32| {
            if !(0..=2).contains(&fd) {
                return ERRNO_BADF;
            }
            // fdstat: filetype u8 (2 = character device), flags u16, rights base/inheriting u64.
            let mut stat = [0u8; 24];
            stat[0] = 2;
            stat[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
            if write(&mut c, out, &stat) {
                ERRNO_SUCCESS
            } else {
                ERRNO_FAULT
            }
        },
    )?;
    linker.func_wrap(W, "fd_write", fd_write)?;
    add_no_files(linker)?;
    linker.func_wrap(
        W,
        "proc_exit",
        |_: Caller<'_, Host>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(Exit(code)))
        },
    )?;
    Ok(())
}

/// The file-system calls std links in: no descriptor beyond stdio and no preopened directory,
/// so each is `EBADF` (reading stdin too: the guest gets its inputs from `openfn.input_*`).
fn add_no_files(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    const W: &str = "wasi_snapshot_preview1";
    linker.func_wrap(
        W,
        "fd_filestat_get",
        |_: Caller<'_, Host>, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "fd_prestat_get",
        |_: Caller<'_, Host>, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "fd_prestat_dir_name",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "fd_read",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "path_create_directory",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "path_filestat_get",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "path_open",
        |_: Caller<'_, Host>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i64,
         _: i64,
         _: i32,
         _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(
        W,
        "path_readlink",
        |_: Caller<'_, Host>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| ERRNO_BADF,
    )?;
    linker.func_wrap(W, "sched_yield", |_: Caller<'_, Host>| ERRNO_SUCCESS)?;
    Ok(())
}

fn fd_write(
    mut c: Caller<'_, Host>,
    fd: i32,
    iovs: i32,
    iovs_len: i32,
    nwritten: i32,
) -> wasmtime::Result<i32> {
    if fd != 1 && fd != 2 {
        return Ok(ERRNO_BADF);
    }
    let table = read(&mut c, iovs, iovs_len.saturating_mul(8))?;
    let mut total = 0u32;
    for iov in table.chunks_exact(8) {
        let ptr = i32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
        let len = i32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
        let bytes = read(&mut c, ptr, len)?;
        let stdio = &mut c.data_mut().stdio;
        let room = STDIO_CAP.saturating_sub(stdio.len());
        stdio.extend_from_slice(&bytes[..bytes.len().min(room)]);
        total = total.wrapping_add(len as u32);
    }
    Ok(if write(&mut c, nwritten, &total.to_le_bytes()) {
        ERRNO_SUCCESS
    } else {
        ERRNO_FAULT
    })
}

/// A linker with every import the guest may use; anything else fails instantiation.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    add_openfn(&mut linker)?;
    add_wasi(&mut linker)?;
    Ok(linker)
}
