//! Compressed responses (`content-encoding: br`, `gzip`, `deflate`) through the host-backed
//! `undici` (with and without `interceptors.decompress`), `fetch` and the real
//! `@openfn/language-common`, and brotli in the `zlib` built-in (sync, callback and stream
//! forms, checked against the Rust `brotli` crate).

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::get;
use base64::Engine;
use serde_json::json;

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
    w.write_all(data).unwrap();
    drop(w);
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Each route answers compressed whatever the request's `accept-encoding`, and reports that
/// header back in `x-accept-encoding`.
async fn server() -> SocketAddr {
    fn route(encoding: &'static str, f: fn(&[u8]) -> Vec<u8>) -> axum::routing::MethodRouter {
        get(move |headers: HeaderMap| async move {
            let accept = headers
                .get(header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let body = f(
                json!({"encoding": encoding, "text": "squeeze me ".repeat(20)})
                    .to_string()
                    .as_bytes(),
            );
            (
                [
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                    (header::CONTENT_ENCODING, encoding.to_owned()),
                    (header::HeaderName::from_static("x-accept-encoding"), accept),
                ],
                body,
            )
        })
    }
    let app = Router::new()
        .route("/br", route("br", brotli))
        .route("/gzip", route("gzip", gzip))
        .route("/deflate", route("deflate", deflate));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn compressed_responses_are_decoded() {
    let addr = server().await;
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let src = r#"
        import { request, Agent, interceptors } from 'undici';
        import { util } from '@openfn/language-common';
        const base = 'http://ADDR';
        const agent = new Agent().compose(interceptors.redirect({ maxRedirections: 1 }), interceptors.decompress());
        const viaUndici = async (path, dispatcher) => {
          const res = await request(`${base}${path}`, { dispatcher });
          const body = await res.body.json();
          return [res.statusCode, res.headers['content-encoding'] ?? null, body.encoding, body.text.length];
        };
        const out = {};
        for (const path of ['/br', '/gzip', '/deflate']) {
          const res = await fetch(`${base}${path}`);
          const body = await res.json();
          const common = await util.get(`${base}${path}`);
          out[path] = {
            decompress: await viaUndici(path, agent),
            plainAgent: await viaUndici(path),
            fetch: [res.status, res.headers.get('content-encoding'), body.encoding, body.text.length],
            common: [common.statusCode, common.body.encoding, common.body.text.length],
            accepted: res.headers.get('x-accept-encoding').includes('br'),
          };
        }
        export default out;
    "#
    .replace("ADDR", &addr.to_string());
    let v = r
        .run_at(&dir.join("job.mjs").to_string_lossy(), &src)
        .await
        .unwrap();
    for enc in ["br", "gzip", "deflate"] {
        assert_eq!(
            v[format!("/{enc}")],
            json!({
                // As undici's decompress interceptor does, the host drops content-encoding
                // (and content-length) once it has decoded the body.
                "decompress": [200, null, enc, 220],
                // Node's undici without the interceptor would hand over the raw bytes; the
                // host always decodes.
                "plainAgent": [200, null, enc, 220],
                "fetch": [200, null, enc, 220],
                "common": [200, enc, 220],
                "accepted": true,
            }),
            "{enc}: {v}"
        );
    }
}

#[tokio::test]
async fn zlib_brotli() {
    let text = "brotli from rust ".repeat(30);
    let from_rust = base64::engine::general_purpose::STANDARD.encode(brotli(text.as_bytes()));
    let src = r#"
        import zlib from 'node:zlib';
        import { brotliCompressSync, brotliDecompressSync, createBrotliDecompress, createBrotliCompress, constants } from 'zlib';
        import { pipeline, Readable, Writable } from 'node:stream';
        const text = 'hello brotli '.repeat(50);
        const packed = brotliCompressSync(text);
        const fast = brotliCompressSync(text, { params: { [constants.BROTLI_PARAM_QUALITY]: 1 } });
        const viaCallback = await new Promise((resolve, reject) => zlib.brotliDecompress(packed, (err, out) => err ? reject(err) : resolve(out.toString())));
        const viaStream = await new Promise((resolve, reject) => {
          const chunks = [];
          pipeline(
            Readable.from([packed.subarray(0, 7), packed.subarray(7)]),
            createBrotliDecompress(),
            new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }),
            (err) => err ? reject(err) : resolve(Buffer.concat(chunks).toString()),
          );
        });
        const roundTripStream = await new Promise((resolve, reject) => {
          const chunks = [];
          const c = createBrotliCompress();
          c.on('data', (d) => chunks.push(d));
          c.on('end', () => resolve(brotliDecompressSync(Buffer.concat(chunks)).toString() === text));
          c.on('error', reject);
          c.end(text);
        });
        const err = (f) => { try { f(); return null; } catch (e) { return [e.message, e.code, e.errno]; } };
        export default {
          hello: brotliCompressSync('hello').toString('hex'),
          sync: brotliDecompressSync(packed).toString() === text,
          smaller: packed.length < text.length / 10,
          fast: brotliDecompressSync(fast).toString() === text,
          viaCallback: viaCallback === text,
          viaStream: viaStream === text,
          roundTripStream,
          fromRust: brotliDecompressSync(Buffer.from('FROM_RUST', 'base64')).toString(),
          forRust: packed.toString('base64'),
          garbage: err(() => brotliDecompressSync(Buffer.from('garbage data here'))),
          truncated: err(() => brotliDecompressSync(packed.subarray(0, 5))),
        };
    "#
    .replace("FROM_RUST", &from_rust);
    let mut v = common::eval(&src).await;
    let for_rust = base64::engine::general_purpose::STANDARD
        .decode(v["forRust"].as_str().unwrap())
        .unwrap();
    let mut decoded = String::new();
    brotli::Decompressor::new(&for_rust[..], 4096)
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, "hello brotli ".repeat(50));
    v["forRust"] = json!("checked");
    // Expected values (hex, error message/code/errno) recorded with node 20.
    assert_eq!(
        v,
        json!({
            "hello": "0b028068656c6c6f03",
            "sync": true,
            "smaller": true,
            "fast": true,
            "viaCallback": true,
            "viaStream": true,
            "roundTripStream": true,
            "fromRust": text,
            "forRust": "checked",
            "garbage": ["Decompression failed", "ERR__ERROR_FORMAT_PADDING_1", -14],
            "truncated": ["unexpected end of file", "Z_BUF_ERROR", -5],
        })
    );
}
