//! The real `@openfn/language-common` 3.x and `@openfn/language-http` 7.x from npm, loaded
//! unmodified into the adaptor realm, calling their operations (HTTP against a local server).

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde_json::json;

async fn server() -> SocketAddr {
    let both = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let app = Router::new()
        .route(
            "/json",
            get(|| async { axum::Json(json!({"hello": "world", "n": 1})) }),
        )
        .route(
            "/text",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "plain text") }),
        )
        .route(
            "/echo",
            post(|headers: HeaderMap, body: String| async move {
                let ct = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                axum::Json(json!({"contentType": ct, "body": body}))
            }),
        )
        .route("/redirect", get(|| async { Redirect::to("/json") }))
        .route(
            "/gzip",
            get(|| async {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(br#"{"zipped":true}"#).unwrap();
                (
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CONTENT_ENCODING, "gzip"),
                    ],
                    enc.finish().unwrap(),
                )
            }),
        )
        .route(
            "/auth",
            get(|headers: HeaderMap| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                axum::Json(json!({"authorization": auth}))
            }),
        )
        .route(
            "/missing",
            get(|| async {
                (StatusCode::NOT_FOUND, axum::Json(json!({"error": "nope"}))).into_response()
            }),
        )
        .route(
            "/slow",
            // Answers only once two requests are in flight together (a barrier, not a delay):
            // requests sent one after the other get `false` after 5 s.
            get(move || {
                let both = both.clone();
                async move {
                    let met = tokio::time::timeout(std::time::Duration::from_secs(5), both.wait())
                        .await
                        .is_ok();
                    axum::Json(json!({"slow": met}))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn job_name(dir: &std::path::Path) -> String {
    dir.join("job.mjs").to_string_lossy().into_owned()
}

#[tokio::test]
async fn language_common_operations() {
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let v = r
        .run_at(
            &job_name(&dir),
            r#"
            import { fn, each, dataValue, merge, field, fields, _, dateFns, parseCsv, util, execute, cursor, map, combine, chunk, scrubEmojis }
              from '@openfn/language-common';
            let state = { data: { items: [{ id: 1 }, { id: 2 }], name: 'x' }, references: [] };
            const seen = [];
            state = await execute(
              fn((s) => ({ ...s, a: 1 })),
              each('$.data.items[*]', fn((s) => { seen.push(s.data.id); return s; })),
              fn((s) => ({ ...s, dv: dataValue('name')(s) })),
              merge('$.data.items', fields(field('m', 1))),
              parseCsv('a,b\n1,2\n3,4'),
              cursor('2024-01-02T03:04:05Z'),
            )(state);
            export default {
              a: state.a,
              seen,
              dv: state.dv,
              csv: state.data,
              cursor: state.cursor,
              lodash: _.chunk([1, 2, 3], 2),
              date: dateFns.format(new Date(2020, 0, 2), 'yyyy-MM-dd'),
              uuid: /^[0-9a-f-]{36}$/.test(util.uuid()),
              enc: util.encode({ a: 1 }),
              dec: util.decode(util.encode({ a: 1 })),
              chunk: chunk([1, 2, 3, 4, 5], 2),
              emoji: scrubEmojis('hi 😀 there'),
            };
            "#,
        )
        .await
        .unwrap();
    // Expected values recorded with node 20 running the same job against the same install
    // (`node job.mjs`): `parseCsv` replaces the state it is given, so `a`/`dv` are gone, and
    // scrubEmojis replaces the emoji with U+FFFD.
    assert_eq!(
        v,
        json!({"seen": [1, 2], "csv": [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}],
               "cursor": "2024-01-02T03:04:05Z", "lodash": [[1, 2], [3]], "date": "2020-01-02",
               "uuid": true, "enc": "eyJhIjoxfQ==", "dec": {"a": 1}, "chunk": [[1, 2], [3, 4], [5]],
               "emoji": "hi \u{FFFD} there"})
    );
    assert!(
        r.logs
            .lines()
            .contains(&"Setting cursor to: 2024-01-02T03:04:05Z".to_owned())
    );
}

#[tokio::test]
async fn language_http_requests() {
    let dir = common::adaptors_dir();
    let addr = server().await;
    let r = common::realm(common::policy_for(&dir), None).await;
    let src = r#"
        import { get, post, request, execute } from '@openfn/language-http';
        const base = 'http://ADDR';
        const run = async (op, configuration) => {
          try {
            const s = await execute(op)({ configuration, data: {} });
            return { data: s.data, status: s.response.statusCode, ct: s.response.headers['content-type'] };
          } catch (e) {
            return { error: e.message, statusCode: e.statusCode, body: e.body };
          }
        };
        const [a, b] = await Promise.all([run(get(`${base}/slow`)), run(get(`${base}/slow`))]);
        export default {
          json: await run(get(`${base}/json`)),
          text: await run(get(`${base}/text`)),
          post: await run(post(`${base}/echo`, { x: 1 })),
          form: await run(post(`${base}/echo`, { f: 'v' }, { contentType: 'form' })),
          redirect: await run(get(`${base}/redirect`)),
          gzip: await run(get(`${base}/gzip`)),
          basic: await run(get('/auth'), { baseUrl: base, username: 'u', password: 'p' }),
          bearer: await run(get('/auth'), { baseUrl: base, access_token: 'tok' }),
          missing: await run(get(`${base}/missing`)),
          query: await run(request('GET', `${base}/json`, { query: { a: 1 } })),
          denied: await run(get('http://example.com/x')),
          parallel: [a.data, b.data],
        };
    "#
    .replace("ADDR", &addr.to_string());
    let v = r.run_at(&job_name(&dir), &src).await.unwrap();
    let form = v["form"]["data"].clone();
    assert!(
        form["contentType"]
            .as_str()
            .unwrap()
            .starts_with("multipart/form-data; boundary="),
        "{form}"
    );
    assert!(
        form["body"]
            .as_str()
            .unwrap()
            .contains("name=\"f\"\r\n\r\nv\r\n"),
        "{form}"
    );
    let mut v = v;
    v["form"]["data"] = json!("checked above");
    assert_eq!(
        v,
        json!({
          "json": {"data": {"hello": "world", "n": 1}, "status": 200, "ct": "application/json"},
          "text": {"data": "plain text", "status": 200, "ct": "text/plain"},
          "post": {"data": {"contentType": "application/json", "body": "{\"x\":1}"}, "status": 200, "ct": "application/json"},
          "form": {"data": "checked above", "status": 200, "ct": "application/json"},
          "redirect": {"data": {"hello": "world", "n": 1}, "status": 200, "ct": "application/json"},
          "gzip": {"data": {"zipped": true}, "status": 200, "ct": "application/json"},
          "basic": {"data": {"authorization": "Basic dTpw"}, "status": 200, "ct": "application/json"},
          "bearer": {"data": {"authorization": "Bearer tok"}, "status": 200, "ct": "application/json"},
          "missing": {"error": format!("GET to http://{addr}/missing returned 404: Not Found"), "statusCode": 404, "body": {"error": "nope"}},
          "query": {"data": {"hello": "world", "n": 1}, "status": 200, "ct": "application/json"},
          "denied": {"error": "request to http://example.com/x is not allowed by the host policy"},
          "parallel": [{"slow": true}, {"slow": true}],
        })
    );
    // common logs `METHOD url - status in Nms` only when the duration is not 0 ms (as in node).
    let logs = r.logs.lines();
    assert!(
        logs.iter()
            .any(|l| l.starts_with(&format!("GET http://{addr}/slow - 200 in "))),
        "{logs:?}"
    );
}

#[tokio::test]
async fn undici_mock_agent_and_errors_without_credentials() {
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let v = r
        .run_at(
            &job_name(&dir),
            r#"
            import { MockAgent, setGlobalDispatcher, request } from 'undici';
            import { util } from '@openfn/language-common';
            const agent = new MockAgent();
            agent.disableNetConnect();
            agent.get('https://mock.test').intercept({ path: '/items', method: 'GET' }).reply(200, { ok: 1 }, { headers: { 'content-type': 'application/json' } });
            setGlobalDispatcher(agent);
            const res = await request('https://mock.test/items');
            const mocked = { status: res.statusCode, body: await res.body.json() };
            const client = util.enableMockClient('https://api.test');
            client.intercept({ path: '/x', method: 'GET' }).reply(201, { via: 'common' });
            const viaCommon = await util.get('https://api.test/x');
            let refused;
            try { await util.get('http://user:secret@127.0.0.1:1/x'); } catch (e) { refused = e.message; }
            export default { mocked, viaCommon: [viaCommon.statusCode, viaCommon.body], refusedHasSecret: refused.includes('secret'), refused };
            "#,
        )
        .await
        .unwrap();
    assert_eq!(v["mocked"], json!({"status": 200, "body": {"ok": 1}}));
    assert_eq!(v["viaCommon"], json!([201, {"via": "common"}]));
    assert_eq!(v["refusedHasSecret"], json!(false), "{v}");
}

/// `validate` (ajv, loaded by a dynamic `import()` and compiling schemas with `new Function`),
/// `parseXML` (cheerio), dynamic import of a CommonJS package and assorted helpers. The
/// expected value was recorded by running the same module with node 20 against the same
/// install (`node job2.mjs`).
#[tokio::test]
async fn language_common_validate_and_http_parse_xml() {
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let v = r.run_at(&job_name(&dir), JOB2).await.unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        r#"{"validationErrors":[["must have required property 'id'"]],"iffed":true,"grouped":{},"asData":[5],"jv":1,"split":[{"a":1,"c":3},{"b":2}],"human":"Hello World","arr":[1],"a2s":"1,2","xml":[],"dyn":"function"}"#,
    )
    .unwrap();
    assert_eq!(v, expected);
}

const JOB2: &str = r#"
import { validate, fnIf, group, asData, map, combine, fn, execute, jsonValue, sourceValue, lastReferenceValue, splitKeys, humanProper, toArray, arrayToString, dataPath, as } from '@openfn/language-common';
import { parseXML } from '@openfn/language-http';
const schema = { type: 'object', properties: { id: { type: 'number' } }, required: ['id'] };
let s = await execute(
  validate(schema, 'data'),
  fnIf(true, fn((s) => ({ ...s, iffed: true }))),
  group('$.data.rows', 'k'),
)({ data: { rows: [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }] }, references: [] });
let x = await execute(parseXML('<table><tr><td>1</td><td>2</td></tr></table>', ($) => JSON.stringify($('td').map((i, el) => $(el).text()).get())))({ data: {}, references: [] });
const dyn = await import('lodash');
const out = {
  validationErrors: s.validationErrors.map((v) => v.errors.map((e) => e.message)),
  iffed: s.iffed,
  grouped: s.data,
  asData: asData('$.a', { a: 5 }),
  jv: jsonValue({ a: { b: 1 } }, '$.a.b'),
  split: splitKeys({ a: 1, b: 2, c: 3 }, ['b']),
  human: humanProper('hello world'),
  arr: toArray(1),
  a2s: arrayToString([1, 2], ','),
  xml: x.data,
  dyn: typeof dyn.default.chunk,
};
export default out;
"#;

/// `load_adaptor` picks the ESM entry (package `exports` import condition) like the kit's
/// linker; the namespace keys equal node's (`Object.keys(await import(pkg))`).
#[tokio::test]
async fn load_adaptor_exports_match_node() {
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let host = r.host.clone();
    let keys = r
        .ctx
        .async_with(async |ctx| {
            let mut out = Vec::new();
            for pkg in ["@openfn/language-common", "@openfn/language-http"] {
                let ns = openfn_node_host::load_adaptor(
                    &host,
                    &ctx,
                    &dir.join("node_modules").join(pkg),
                )
                .await
                .unwrap();
                let mut keys: Vec<String> = ns.keys::<String>().map(|k| k.unwrap()).collect();
                keys.sort();
                out.push(keys.join(","));
            }
            out
        })
        .await;
    assert_eq!(
        keys[0],
        "_,alterState,arrayToString,as,asData,assert,beta,chunk,combine,composeNextState,cursor,dataPath,dataValue,dateFns,debug,default,each,execute,field,fields,fn,fnIf,group,http,humanProper,index,join,jsonValue,lastReferenceValue,log,map,merge,parseCsv,referencePath,scrubEmojis,source,sourceValue,splitKeys,toArray,util,validate"
    );
    assert_eq!(
        keys[1],
        "alterState,arrayToString,as,chunk,combine,cursor,dataPath,dataValue,dateFns,default,del,each,execute,field,fields,fn,fnIf,get,group,humanProper,lastReferenceValue,map,merge,parseCsv,parseXML,patch,post,put,request,scrubEmojis,sourceValue,splitKeys,toArray,util"
    );
}
