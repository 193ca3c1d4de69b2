//! No ambient authority on the wasm tier: no files, no network, no environment, no modules.
#![cfg(feature = "wasm")]

mod common;

use common::{run, sandbox};
use serde_json::json;

#[test]
fn the_guest_imports_only_the_openfn_host_and_harmless_wasi_calls() {
    let allowed = [
        "openfn.emit",
        "openfn.input_len",
        "openfn.input_read",
        "wasi_snapshot_preview1.random_get",
        "wasi_snapshot_preview1.environ_get",
        "wasi_snapshot_preview1.environ_sizes_get",
        "wasi_snapshot_preview1.clock_time_get",
        "wasi_snapshot_preview1.fd_close",
        "wasi_snapshot_preview1.fd_fdstat_get",
        "wasi_snapshot_preview1.fd_seek",
        "wasi_snapshot_preview1.fd_write",
        "wasi_snapshot_preview1.proc_exit",
        // plan mode: requests to the host
        "openfn.call",
        "openfn.reply_read",
        // std's file system and scheduling, linked in by openfn-runtime: all answered without
        // authority (no preopened directory, so every path and descriptor is EBADF)
        "wasi_snapshot_preview1.fd_filestat_get",
        "wasi_snapshot_preview1.fd_prestat_get",
        "wasi_snapshot_preview1.fd_prestat_dir_name",
        "wasi_snapshot_preview1.fd_read",
        "wasi_snapshot_preview1.path_create_directory",
        "wasi_snapshot_preview1.path_filestat_get",
        "wasi_snapshot_preview1.path_open",
        "wasi_snapshot_preview1.path_readlink",
        "wasi_snapshot_preview1.sched_yield",
    ];
    let imports = sandbox().imports();
    assert!(!imports.is_empty());
    for import in &imports {
        assert!(
            allowed.contains(&import.as_str()),
            "unexpected import {import}"
        );
    }
}

#[test]
fn a_job_sees_no_node_or_web_io_globals() {
    let job = r#"export default [s => ({
        fetch: typeof fetch, require: typeof require, process: typeof process,
        XMLHttpRequest: typeof XMLHttpRequest, WebSocket: typeof WebSocket,
        std: typeof std, os: typeof os, reporters: typeof __openfn_emit + typeof __openfn_run,
    })];"#;
    let out = run(job);
    assert_eq!(out.error, None);
    let u = "undefined";
    assert_eq!(
        out.state,
        Some(
            json!({"fetch": u, "require": u, "process": u, "XMLHttpRequest": u,
            "WebSocket": u, "std": u, "os": u, "reporters": "undefinedundefined"})
        )
    );
}

#[test]
fn importing_any_module_is_an_import_error() {
    for job in [
        "import * as os from 'os'; export default [s => os];",
        "import { readFileSync } from 'fs'; export default [s => readFileSync('/etc/passwd')];",
        "import { fn } from '@openfn/language-common'; export default [fn(s => s)];",
    ] {
        let e = run(job).error.expect("an error");
        assert_eq!(e.name, "ImportError", "{job}: {}", e.message);
    }
}

#[test]
fn a_dynamic_import_is_refused_inside_the_job() {
    let job = "export default [async s => { try { await import('std'); return { loaded: true }; } \
               catch (e) { return { refused: String(e.message) }; } }];";
    let out = run(job);
    assert_eq!(out.error, None);
    let refused = out
        .state
        .as_ref()
        .and_then(|s| s.get("refused"))
        .and_then(|v| v.as_str());
    assert!(
        refused.is_some_and(|m| m.contains("not supported on the wasm tier")),
        "{:?}",
        out.state
    );
}
