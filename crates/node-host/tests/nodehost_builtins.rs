//! Behaviour of the globals and built-in modules of the adaptor realm.

mod common;

use serde_json::json;

#[tokio::test]
async fn buffer_encodings() {
    let v = common::eval(
        r#"
        import { Buffer as B } from 'node:buffer';
        const b = Buffer.from('hello world');
        export default {
          same: B === Buffer,
          b64: b.toString('base64'),
          hex: Buffer.from('6a6f65', 'hex').toString(),
          back: Buffer.from('aGVsbG8gd29ybGQ=', 'base64').toString('utf8'),
          url: Buffer.from('>>>???', 'utf8').toString('base64url'),
          isBuf: Buffer.isBuffer(b) && b instanceof Uint8Array,
          concat: Buffer.concat([Buffer.from('a'), Buffer.alloc(2, 'b')]).toString(),
          slice: b.slice(0, 5).toString(),
          u16: Buffer.from([1, 2]).readUInt16BE(0),
          json: JSON.stringify(Buffer.from('hi')),
        };
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"same": true, "b64": "aGVsbG8gd29ybGQ=", "hex": "joe", "back": "hello world",
               "url": "Pj4-Pz8_", "isBuf": true, "concat": "abb", "slice": "hello", "u16": 258,
               "json": "{\"type\":\"Buffer\",\"data\":[104,105]}"})
    );
}

#[tokio::test]
async fn url_and_querystring() {
    let v = common::eval(
        r#"
        import qs from 'querystring';
        import url from 'url';
        const u = new URL('/a/../b?x=1&y=two#h', 'https://user:pw@example.com:8443/base/');
        u.searchParams.append('z', 'a b');
        export default {
          href: u.href, origin: u.origin, host: u.host, path: u.pathname, user: u.username,
          search: u.search, hash: u.hash,
          params: [...new URLSearchParams('a=1&a=2&b=%20c').entries()],
          qs: qs.stringify({ a: [1, 2], b: 'x y' }),
          parsed: qs.parse('a=1&a=2&b=x+y'),
          legacy: url.parse('http://h.com:81/p?q=1').port,
          invalid: (() => { try { new URL('nope'); } catch (e) { return e.code; } })(),
        };
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"href": "https://user:pw@example.com:8443/b?x=1&y=two&z=a+b#h",
               "origin": "https://example.com:8443", "host": "example.com:8443", "path": "/b",
               "user": "user", "search": "?x=1&y=two&z=a+b", "hash": "#h",
               "params": [["a", "1"], ["a", "2"], ["b", " c"]],
               "qs": "a=1&a=2&b=x%20y", "parsed": {"a": ["1", "2"], "b": "x y"},
               "legacy": "81", "invalid": "ERR_INVALID_URL"})
    );
}

#[tokio::test]
async fn path_util_events_crypto() {
    let v = common::eval(
        r#"
        import path from 'path';
        import util from 'node:util';
        import { EventEmitter } from 'events';
        import crypto, { randomUUID } from 'crypto';
        const e = new EventEmitter();
        let got = [];
        e.on('x', (a) => got.push(a));
        e.emit('x', 1);
        e.emit('x', 2);
        export default {
          join: path.posix.join('https://a.com/x/', '../y', 'z'),
          rel: path.relative('/a/b/c', '/a/d'),
          ext: path.extname('/x/y.tar.gz'),
          fmt: util.format('%s=%d %j', 'a', 42, { b: 1 }),
          inspect: util.inspect({ a: [1, { b: new Map([[1, 2]]) }], s: 'x' }),
          got,
          uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(randomUUID()),
          md5: crypto.createHash('md5').update('hello').digest('hex'),
          sha256: crypto.createHash('sha256').update('hel').update('lo').digest('base64'),
          hmac: crypto.createHmac('sha256', 'key').update('msg').digest('hex'),
          rnd: crypto.randomBytes(16).length,
          promisified: await util.promisify((x, cb) => cb(null, x * 2))(21),
          isDate: util.types.isDate(new Date()),
        };
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"join": "https:/a.com/y/z", "rel": "../../d", "ext": ".gz",
               "fmt": "a=42 {\"b\":1}", "inspect": "{ a: [ 1, { b: [Map] } ], s: 'x' }",
               "got": [1, 2], "uuid": true, "md5": "5d41402abc4b2a76b9719d911017c592",
               "sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
               "hmac": "2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628",
               "rnd": 16, "promisified": 42, "isDate": true})
    );
}

#[tokio::test]
async fn streams_and_timers() {
    let v = common::eval(
        r#"
        import { Readable, Transform, pipeline } from 'stream';
        import { StringDecoder } from 'string_decoder';
        const upper = new Transform({ transform(chunk, _enc, cb) { cb(null, chunk.toString().toUpperCase()); } });
        const out = [];
        await new Promise((resolve, reject) => {
          pipeline(Readable.from(['a', 'b', 'c']), upper, async function* (src) { for await (const c of src) out.push(c.toString()); }, (err) => err ? reject(err) : resolve());
        }).catch(() => {});
        const chunks = [];
        for await (const c of Readable.from([1, 2, 3])) chunks.push(c);
        for await (const c of Readable.from('whole')) chunks.push(c);
        const order = [];
        await new Promise((resolve) => {
          setTimeout(() => { order.push('t20'); resolve(); }, 20);
          setTimeout(() => order.push('t5'), 5);
          const t = setTimeout(() => order.push('cleared'), 1);
          clearTimeout(t);
          queueMicrotask(() => order.push('micro'));
          setImmediate(() => order.push('immediate'));
        });
        const d = new StringDecoder('utf8');
        const euro = Buffer.from('€');
        const decoded = d.write(euro.slice(0, 1)) + d.write(euro.slice(1));
        const ac = new AbortController();
        ac.abort();
        export default { chunks, order, decoded, aborted: ac.signal.aborted, reason: ac.signal.reason.name,
          clone: structuredClone({ a: [1, { b: 2 }] }), enc: [...new TextEncoder().encode('é')],
          dec: new TextDecoder().decode(new Uint8Array([0xe2, 0x82, 0xac])) };
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"chunks": [1, 2, 3, "whole"], "order": ["micro", "immediate", "t5", "t20"], "decoded": "€",
               "aborted": true, "reason": "AbortError", "clone": {"a": [1, {"b": 2}]},
               "enc": [195, 169], "dec": "€"})
    );
}

#[tokio::test]
async fn stubs_link_and_fail_clearly() {
    let v = common::eval(
        r#"
        import fs from 'fs';
        import { readFile } from 'node:fs/promises';
        import * as net from 'net';
        import zlib from 'zlib';
        import vm from 'vm';
        import { AsyncLocalStorage } from 'async_hooks';
        const msg = (f) => { try { f(); return 'no error'; } catch (e) { return e.message; } };
        const als = new AsyncLocalStorage();
        export default {
          fs: msg(() => fs.readFileSync('/etc/passwd')),
          fsp: typeof readFile,
          net: msg(() => net.connect(80)),
          zlib: zlib.gunzipSync(zlib.gzipSync('zipped')).toString() + ' ' + zlib.inflateSync(zlib.deflateSync(Buffer.from('x'))).toString()
            + ' ' + msg(() => zlib.gunzipSync(Buffer.from('nope'))) + ' ' + msg(() => zlib.brotliDecompressSync(Buffer.from(''))),
          vm: new vm.Script('a + b').runInNewContext({ a: 1, b: 2 }),
          env: Object.keys(process.env).length,
          exit: msg(() => process.exit(1)),
          als: als.run(7, () => als.getStore()),
        };
        "#,
    )
    .await;
    assert_eq!(
        v,
        json!({"fs": "fs.readFileSync is not available in the OpenFn adaptor sandbox",
               "fsp": "function", "net": "net.connect is not available in the OpenFn adaptor sandbox",
               "zlib": "zipped x incorrect header check unexpected end of file",
               "vm": 3, "env": 0, "exit": "process.exit is not available in the OpenFn adaptor sandbox",
               "als": 7})
    );
}

#[tokio::test]
async fn console_goes_to_the_sink() {
    let r = common::realm(openfn_node_host::HostPolicy::deny_all(), None).await;
    r.run("console.log('a %s', 'b', { c: 1 }); console.error(new Error('boom').message); export default 1;")
        .await
        .unwrap();
    assert_eq!(
        r.logs.lines(),
        vec!["a b { c: 1 }".to_owned(), "boom".to_owned()]
    );
}

#[tokio::test]
async fn unrefd_timers_do_not_keep_the_runtime_busy() {
    let r = common::realm(openfn_node_host::HostPolicy::deny_all(), None).await;
    r.run("setTimeout(() => {}, 60000).unref(); export default 1;")
        .await
        .unwrap();
    let idle = tokio::time::timeout(std::time::Duration::from_secs(5), r.rt.idle()).await;
    assert!(idle.is_ok(), "an unref'd timer kept the runtime busy");

    // A pending ref'd timer keeps the runtime busy: the runtime is idle only once the timer
    // has fired (a runtime that went idle with the timer pending would leave `fired` unset).
    r.run("globalThis.fired = false; setTimeout(() => { globalThis.fired = true; }, 50); export default 1;")
        .await
        .unwrap();
    let idle = tokio::time::timeout(std::time::Duration::from_secs(5), r.rt.idle()).await;
    assert!(
        idle.is_ok(),
        "a ref'd 50 ms timer kept the runtime busy for 5 s"
    );
    let fired = r
        .ctx
        .with(|ctx| ctx.globals().get::<_, bool>("fired").unwrap_or(false))
        .await;
    assert!(fired, "the runtime went idle before its ref'd timer fired");
}
