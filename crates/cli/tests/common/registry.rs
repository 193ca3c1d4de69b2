//! A small npm registry on loopback for the CLI tests: `@openfn/language-common` published at
//! 1.0.0, 1.1.0 and 2.0.0, of which 1.0.0 has a real tarball (a one-file package); every other
//! package is a 404.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use sha1::Digest;

/// The gzipped tarball of `@openfn/language-common@1.0.0`.
fn tarball() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let files = [
        (
            "package/package.json",
            r#"{"name":"@openfn/language-common","version":"1.0.0","main":"index.js"}"#,
        ),
        ("package/index.js", "exports.fn = (f) => (s) => f(s);\n"),
    ];
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, text.as_bytes())
            .expect("tar entry");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// Starts the registry; returns its URL (`http://127.0.0.1:<port>/`).
pub fn fake_registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let tgz = tarball();
    let shasum = hex::encode(sha1::Sha1::digest(&tgz));
    let base = url.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read_half);
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
            let (status, body) = if path.ends_with(".tgz") && path.contains("common-1.0.0") {
                ("200 OK", tgz.clone())
            } else if path.contains("language-common") {
                let manifest = |v: &str| {
                    serde_json::json!({ "name": "@openfn/language-common", "version": v,
                        "dist": { "tarball": format!("{base}common-{v}.tgz"), "shasum": shasum } })
                };
                let body = serde_json::json!({
                    "name": "@openfn/language-common",
                    "dist-tags": { "latest": "2.0.0" },
                    "versions": { "1.0.0": manifest("1.0.0"), "1.1.0": manifest("1.1.0"),
                                  "2.0.0": manifest("2.0.0") },
                });
                ("200 OK", body.to_string().into_bytes())
            } else {
                ("404 Not Found", br#"{"error":"Not found"}"#.to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}
