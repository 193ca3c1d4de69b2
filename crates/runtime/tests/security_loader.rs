//! Modules and the network from a job: `import()` of built-ins from job code, the realm's
//! module system in the hands of a careless adaptor (no file-system oracle in its errors,
//! stubs for `fs`, `child_process`, `net`), and HTTP: `file://`, unix sockets, redirects to
//! hosts the policy does not allow.

mod common;
mod node;
mod security;

use std::io::{Read, Write};
use std::net::TcpListener;

use security::{Sandbox, job};
use serde_json::{Value, json};

const HOSTILE: &str = "import { load, importIt } from '@openfn/hostile-fixture';";

#[test]
fn job_code_cannot_import_built_ins() {
    let sb = Sandbox::new();
    for spec in [
        "fs",
        "node:fs",
        "child_process",
        "vm",
        "module",
        "undici",
        "/etc/passwd",
    ] {
        let out = sb.run(
            &format!("export default [async (s) => {{ await import({spec:?}); return s; }}];"),
            json!({}),
        );
        assert_eq!(out["thrown"]["name"], "ImportError", "{spec}: {out}");
        assert_eq!(
            out["thrown"]["message"],
            format!("module blacklisted: {spec}"),
            "{spec}: {out}"
        );
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn loader_errors_through_an_adaptor_are_no_file_system_oracle() {
    let sb = Sandbox::new();
    let specs = [
        "/proc/self/exe",
        "/proc/self/environ",
        "/etc/passwd",
        "/no/such/file.js",
        "../../../../../../../etc/hostname",
        "no-such-package",
    ];
    let out = sb.run(
        &job(
            "fn",
            HOSTILE,
            &format!(
                "fn(async (s) => {{ s.out = []; for (const spec of {}) {{
                    let viaRequire, viaImport;
                    try {{ load(spec); }} catch (e) {{ viaRequire = [e.message, e.code]; }}
                    try {{ await importIt(spec); }} catch (e) {{ viaImport = e.message; }}
                    s.out.push([spec, viaRequire, viaImport]);
                }} return s; }})",
                serde_json::to_string(&specs).expect("json")
            ),
        ),
        json!({}),
    );
    let rows = out["out"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), specs.len(), "{out}");
    let exe = std::env::current_exe()
        .expect("exe")
        .to_string_lossy()
        .into_owned();
    let pid = std::process::id().to_string();
    for row in rows {
        let spec = row[0].as_str().unwrap_or_default();
        assert_eq!(
            row[1],
            json!([format!("Cannot find module '{spec}'"), "MODULE_NOT_FOUND"]),
            "{row}"
        );
        assert!(
            row[2]
                .as_str()
                .is_some_and(|m| m.contains(&format!("Cannot find module '{spec}'"))),
            "{row}"
        );
        let text = row.to_string();
        assert!(!text.contains(&exe) && !text.contains(&pid), "{row}");
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn built_ins_give_no_file_system_or_processes() {
    let sb = Sandbox::new();
    let out = sb.run(
        &job(
            "fn",
            HOSTILE,
            r#"fn(async (s) => {
                const attempt = async (f) => { try { await f(); return 'done'; } catch (e) { return e.code || e.message; } };
                s.out = [
                  await attempt(() => load('fs').readFileSync('/etc/passwd')),
                  await attempt(() => load('fs/promises').readFile('/etc/passwd')),
                  await attempt(() => load('child_process').execSync('id')),
                  await attempt(() => importIt('node:child_process').then((m) => m.spawn('id'))),
                  await attempt(() => load('net').connect(22, '127.0.0.1')),
                  await attempt(() => load('process').dlopen({}, '/lib/x.so')),
                  Object.keys(load('process').env).length,
                ];
                return s;
            })"#,
        ),
        json!({}),
    );
    assert_eq!(
        out["out"],
        json!([
            "ERR_NOT_AVAILABLE",
            "ERR_NOT_AVAILABLE",
            "ERR_NOT_AVAILABLE",
            "ERR_NOT_AVAILABLE",
            "ERR_NOT_AVAILABLE",
            "ERR_NOT_AVAILABLE",
            0
        ]),
        "{out}"
    );
    sb.assert_next_run_unaffected();
}

/// A one-shot HTTP server on 127.0.0.1 answering every request with `response`; returns its
/// port and a handle yielding the number of requests it saw.
fn server(
    response: impl Fn(u16) -> String + Send + 'static,
) -> (u16, std::sync::mpsc::Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(false).expect("blocking");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            if n == 0 || buf.starts_with(b"QUIT") {
                break;
            }
            seen += 1;
            let _ = stream.write_all(response(port).as_bytes());
        }
        let _ = tx.send(seen);
    });
    (port, rx)
}

fn stop(port: u16, seen: &std::sync::mpsc::Receiver<usize>) -> usize {
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.write_all(b"QUIT");
    }
    seen.recv_timeout(std::time::Duration::from_secs(10))
        .expect("server stopped")
}

fn fetch_outcome(sb: &Sandbox, call: &str) -> Value {
    let out = sb.run(
        &job(
            "fn, _",
            HOSTILE,
            &format!(
                "fn(async (s) => {{ const g = _.noConflict.call(undefined); const {{ request, Agent }} = load('undici');
                    try {{ const r = await ({call}); s.out = ['done', r.status ?? r.statusCode]; }}
                    catch (e) {{ s.out = [e.code || (e.cause && e.cause.code) || e.name, String(e.message)]; }} return s; }})"
            ),
        ),
        json!({}),
    );
    out["out"].clone()
}

#[test]
fn file_urls_are_refused() {
    let sb = Sandbox::new();
    for call in [
        "g.fetch('file:///etc/passwd')",
        "request('file:///etc/passwd')",
    ] {
        let out = fetch_outcome(&sb, call);
        assert_ne!(out[0], "done", "{call}: {out}");
        assert!(!out.to_string().contains("root:"), "{call}: {out}");
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn redirects_to_hosts_not_allowed_are_refused() {
    let sb = Sandbox::new();
    for target in [
        "http://localhost:{port}/inside",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ] {
        let target = target.to_owned();
        let (port, seen) = server(move |port| {
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                target.replace("{port}", &port.to_string())
            )
        });
        for call in [
            format!("g.fetch('http://127.0.0.1:{port}/start')"),
            format!("request('http://127.0.0.1:{port}/start', {{ maxRedirections: 3 }})"),
        ] {
            let out = fetch_outcome(&sb, &call);
            assert_ne!(out[0], "done", "{call}: {out}");
        }
        // each run's request reached the allowed host once; the redirect went nowhere
        assert_eq!(stop(port, &seen), 2);
    }
    sb.assert_next_run_unaffected();
}

#[test]
fn unix_sockets_are_never_dialled() {
    let sb = Sandbox::new();
    let dir = tempfile::tempdir().expect("tmp");
    let socket = dir.path().join("docker.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let path = socket.to_string_lossy();
    for call in [
        format!(
            "request('http://localhost/containers/json', {{ dispatcher: new Agent({{ connect: {{ socketPath: {path:?} }} }}) }})"
        ),
        format!(
            "request('http://127.0.0.1:9/containers/json', {{ dispatcher: new Agent({{ socketPath: {path:?} }}) }})"
        ),
        format!(
            "g.fetch('http://127.0.0.1:9/x', {{ dispatcher: new Agent({{ connect: {{ socketPath: {path:?} }} }}) }})"
        ),
    ] {
        let out = fetch_outcome(&sb, &call);
        assert_ne!(out[0], "done", "{call}: {out}");
    }
    assert!(
        listener.accept().is_err(),
        "nothing connected to the unix socket"
    );
    sb.assert_next_run_unaffected();
}
