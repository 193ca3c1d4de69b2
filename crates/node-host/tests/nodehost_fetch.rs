//! The global `fetch` and the host-backed `undici` module against a local server, under the
//! host policy.

mod common;

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use serde_json::json;

async fn server() -> std::net::SocketAddr {
    let app = Router::new()
        .route(
            "/hello",
            get(|headers: HeaderMap| async move {
                let h = headers
                    .get("x-test")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    format!(r#"{{"x":"{h}"}}"#),
                )
            }),
        )
        .route("/echo", post(|body: String| async move { body }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn fetch_and_undici_request() {
    let addr = server().await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { request, Agent, interceptors } from 'undici';
        const base = 'http://ADDR';
        const res = await fetch(`${base}/hello`, { headers: { 'X-Test': 'yes' } });
        const echoed = await (await fetch(`${base}/echo`, { method: 'POST', body: new URLSearchParams({ a: '1', b: 'x y' }) })).text();
        const agent = new Agent({ connect: { rejectUnauthorized: true } }).compose(interceptors.redirect({ maxRedirections: 2 }), interceptors.decompress());
        const u = await request(`${base}/hello`, { dispatcher: agent, headers: { 'x-test': 'undici' } });
        let denied;
        try { await fetch('http://10.1.2.3/secret'); } catch (e) { denied = [e.name, e.message, e.cause && e.cause.code]; }
        export default {
          status: res.status, ok: res.ok, ct: res.headers.get('content-type'), body: await res.json(),
          echoed,
          undici: [u.statusCode, u.headers['content-type'], await u.body.json()],
          denied,
        };
    "#
    .replace("ADDR", &addr.to_string());
    let v = r.run(&src).await.unwrap();
    assert_eq!(
        v,
        json!({"status": 200, "ok": true, "ct": "application/json", "body": {"x": "yes"},
               "echoed": "a=1&b=x+y",
               "undici": [200, "application/json", {"x": "undici"}],
               "denied": ["TypeError", "fetch failed", "ERR_HOST_NOT_ALLOWED"]})
    );
}

/// Node's global `fetch` is undici's: it honours `init.dispatcher` and the global dispatcher
/// (here a `MockAgent`), and a mock miss fails as `fetch failed` with the cause.
#[tokio::test]
async fn fetch_uses_undici_dispatchers() {
    let addr = server().await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { MockAgent, setGlobalDispatcher, getGlobalDispatcher, fetch as undiciFetch } from 'undici';
        const original = getGlobalDispatcher();
        const mock = new MockAgent();
        mock.disableNetConnect();
        mock.get('https://api.test').intercept({ path: '/m', method: 'GET' }).reply(200, { mocked: true }, { headers: { 'content-type': 'application/json' } });
        const viaInit = await (await fetch('https://api.test/m', { dispatcher: mock })).json();
        mock.get('https://api.test').intercept({ path: '/g', method: 'GET' }).reply(201, 'global');
        setGlobalDispatcher(mock);
        const g = await fetch('https://api.test/g');
        let miss;
        try { await fetch('https://api.test/none'); } catch (e) { miss = [e.message, e.cause.code]; }
        setGlobalDispatcher(original);
        const real = await (await undiciFetch('http://ADDR/hello', { headers: { 'x-test': 'back' } })).json();
        export default { viaInit, global: [g.status, await g.text()], miss, real };
    "#
    .replace("ADDR", &addr.to_string());
    let v = r.run(&src).await.unwrap();
    assert_eq!(
        v,
        json!({"viaInit": {"mocked": true}, "global": [201, "global"],
               "miss": ["fetch failed", "UND_MOCK_ERR_MOCK_NOT_MATCHED"], "real": {"x": "back"}})
    );
}
