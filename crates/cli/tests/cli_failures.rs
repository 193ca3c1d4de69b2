//! Failures through the binary: install errors by kind (not in the registry with "did you
//! mean", no such version with the nearest ones, registry unreachable), each once on stderr;
//! compile errors as diagnostics naming the file; usage errors exit 2, failures 1.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use common::{Env, stderr, stdout};

/// A registry that knows one package, `@openfn/language-common` at 1.0.0, 1.1.0 and 2.0.0
/// (metadata only), and answers 404 to everything else. Returns its URL.
fn fake_registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let path = request.split(' ').nth(1).unwrap_or("").to_ascii_lowercase();
            let (status, body) = if path.contains("language-common") {
                let manifest = |v: &str| {
                    serde_json::json!({ "name": "@openfn/language-common", "version": v,
                        "dist": { "tarball": format!("http://127.0.0.1:9/common-{v}.tgz") } })
                };
                let body = serde_json::json!({
                    "name": "@openfn/language-common",
                    "dist-tags": { "latest": "2.0.0" },
                    "versions": { "1.0.0": manifest("1.0.0"), "1.1.0": manifest("1.1.0"),
                                  "2.0.0": manifest("2.0.0") },
                });
                ("200 OK", body.to_string())
            } else {
                ("404 Not Found", r#"{"error":"Not found"}"#.to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn run_job(env: &Env, registry: &str, adaptor: &str) -> std::process::Output {
    let job = env.path().join("job.js");
    std::fs::write(&job, "fn(s => s);").unwrap();
    env.openfn()
        .arg(&job)
        .args(["-a", adaptor, "-O"])
        .env("NPM_CONFIG_REGISTRY", registry)
        .output()
        .unwrap()
}

/// The one error line on stderr (the only line with `Error:`), after checking exit 1.
fn one_error(out: &std::process::Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let err = stderr(out);
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("rror")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(stdout(out).is_empty(), "nothing on stdout: {}", stdout(out));
    errors[0].to_owned()
}

#[test]
fn a_misspelt_adaptor_is_not_in_the_registry_and_gets_a_suggestion() {
    let env = Env::new();
    let line = one_error(&run_job(&env, &fake_registry(), "commmon"));
    assert!(
        line.contains("cannot install @openfn/language-commmon: package @openfn/language-commmon not found in the registry"),
        "{line}"
    );
    assert!(line.contains("did you mean common"), "{line}");
    assert!(line.contains("hint: check the adaptor's name"), "{line}");
}

#[test]
fn a_missing_version_lists_the_nearest_ones() {
    let env = Env::new();
    let line = one_error(&run_job(&env, &fake_registry(), "common@1.0.5"));
    assert!(
        line.contains("no version of @openfn/language-common matches \"1.0.5\"; nearest published versions: 1.0.0, 1.1.0, 2.0.0"),
        "{line}"
    );
    assert!(
        line.contains("hint: pick one of the published versions"),
        "{line}"
    );
}

#[test]
fn an_unreachable_registry_says_so() {
    let env = Env::new();
    let line = one_error(&run_job(&env, "http://127.0.0.1:9/", "common@1.0.0"));
    assert!(line.contains("registry unreachable"), "{line}");
    assert!(line.contains("hint: check the network"), "{line}");
}

#[test]
fn a_compile_error_names_the_file_and_points_at_the_source() {
    let env = Env::new();
    let job = env.path().join("bad.js");
    std::fs::write(&job, "fn(s => s);\nfn(s => {").unwrap();
    let adaptor = format!("common={}", common::fixture_common().display());
    for args in [vec!["-O"], vec!["compile"]] {
        let mut cmd = env.openfn();
        if args[0] == "compile" {
            cmd.arg("compile").arg(&job);
        } else {
            cmd.arg(&job).args(&args);
        }
        let out = cmd.args(["-a", &adaptor]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("error: Unexpected token"), "{err}");
        assert!(err.contains(&format!("--> {}:2:", job.display())), "{err}");
        assert!(err.contains("2 | fn(s => {"), "{err}");
        assert!(!stdout(&out).contains("Critical error"), "{}", stdout(&out));
    }
}

#[test]
fn usage_errors_exit_2_and_failures_1() {
    let env = Env::new();
    let ex = env.examples();
    let out = env.openfn().arg("--no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .openfn()
        .arg(ex.join("hello.js"))
        .args(["-a", "common", "--start", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("need a workflow"));
    let out = env.openfn().args(["test", "-l", "loud"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("expected none, debug, info or default"));
    let out = env
        .openfn()
        .args(["nope.js", "-a", "common"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}
