//! TLS options of the host-backed `undici` (`Agent({ connect: { rejectUnauthorized, ca } })`)
//! against a local HTTPS server whose certificates the test generates: verification by default
//! with an error free of credentials, `rejectUnauthorized: false`, `ca` as a string, a Buffer
//! and an array, a bad `ca`, one client per TLS option set, and the `tls` option of the real
//! `@openfn/language-common` / `@openfn/language-http`.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::get;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and the PEM
/// of an unrelated CA.
struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    other_ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    client_cert_pem: String,
    client_key_pem: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn pki() -> Pki {
    let ca = ca("openfn test ca");
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "openfn test server");
    let leaf = params.signed_by(&key, &ca).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "openfn test client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = params.signed_by(&client_key, &ca).unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        other_ca_pem: self::ca("another ca").pem(),
        chain: vec![leaf.der().clone()],
        key_der: key.serialize_der(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// Accepts TCP connections and completes TLS handshakes, counting the successful ones.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: Arc<AtomicUsize>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that rejects the certificate aborts the handshake: wait for the next.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                self.handshakes.fetch_add(1, Ordering::SeqCst);
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

struct Server {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
}

/// Serves `/hello` over TLS with the server certificate of `pki`; with `client_auth` it requires
/// a client certificate signed by the CA.
async fn https_server(pki: &Pki) -> Server {
    serve(pki, false).await
}

async fn serve(pki: &Pki, client_auth: bool) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(
            pki.chain.clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let app = Router::new().route(
        "/hello",
        get(|headers: HeaderMap| async move {
            let auth = headers.contains_key(header::AUTHORIZATION);
            axum::Json(json!({"hello": "tls", "auth": auth}))
        }),
    );
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let listener = TlsListener {
        tcp,
        acceptor: TlsAcceptor::from(Arc::new(config)),
        handshakes: handshakes.clone(),
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, handshakes }
}

fn with_pems(src: &str, addr: SocketAddr, pki: &Pki) -> String {
    src.replace("ADDR", &addr.to_string())
        .replace("CA_PEM", &serde_json::to_string(&pki.ca_pem).unwrap())
        .replace(
            "OTHER_PEM",
            &serde_json::to_string(&pki.other_ca_pem).unwrap(),
        )
        .replace(
            "CLIENT_CERT",
            &serde_json::to_string(&pki.client_cert_pem).unwrap(),
        )
        .replace(
            "CLIENT_KEY",
            &serde_json::to_string(&pki.client_key_pem).unwrap(),
        )
}

#[tokio::test]
async fn undici_agent_tls_options() {
    let pki = pki();
    let server = https_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { request, Agent, fetch as undiciFetch, setGlobalDispatcher } from 'undici';
        import { Buffer } from 'node:buffer';
        const CA = CA_PEM;
        const OTHER = OTHER_PEM;
        const url = 'https://ADDR/hello';
        const attempt = async (connect) => {
          try {
            const res = await request(url, { dispatcher: new Agent({ connect }) });
            return [res.statusCode, await res.body.json()];
          } catch (e) {
            return [e.code, e.message];
          }
        };
        let plain;
        try {
          await request('https://user:pa55word@ADDR/hello?token=t0ken', { headers: { authorization: 'Bearer s3cret' } });
        } catch (e) { plain = [e.code, e.message]; }
        let viaFetch;
        try { await fetch(url); } catch (e) { viaFetch = [e.message, e.cause.code]; }
        const viaUndiciFetch = await (await undiciFetch(url, { dispatcher: new Agent({ connect: { ca: CA } }) })).json();
        const viaGlobalFetch = await (await fetch(url, { dispatcher: new Agent({ connect: { ca: CA } }) })).json();
        setGlobalDispatcher(new Agent({ connect: { ca: CA } }));
        const viaGlobalDispatcher = await (await fetch(url)).json();
        const requestViaGlobalDispatcher = (await request(url)).statusCode;
        setGlobalDispatcher(new Agent());
        export default {
          plain,
          viaFetch,
          viaUndiciFetch,
          viaGlobalFetch,
          viaGlobalDispatcher,
          requestViaGlobalDispatcher,
          insecure: await attempt({ rejectUnauthorized: false }),
          strict: await attempt({ rejectUnauthorized: true }),
          caString: await attempt({ ca: CA }),
          caBuffer: await attempt({ ca: Buffer.from(CA) }),
          caArray: await attempt({ ca: [OTHER, Buffer.from(CA)] }),
          otherCa: await attempt({ ca: OTHER }),
          badCa: await attempt({ ca: 'not a certificate' }),
          brokenPem: await attempt({ ca: CA.slice(0, 100) + '%%%' + CA.slice(103) }),
          insecureIgnoresCa: await attempt({ ca: 'not a certificate', rejectUnauthorized: false }),
        };
    "#;
    let v = r.run(&with_pems(src, server.addr, &pki)).await.unwrap();
    let addr = server.addr;
    let untrusted = json!([
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        format!(
            "request to https://{addr}/hello failed: the server certificate is not signed by a trusted CA (invalid peer certificate: UnknownIssuer)"
        )
    ]);
    let ok = json!([200, {"hello": "tls", "auth": false}]);
    assert_eq!(
        v,
        json!({
            "plain": untrusted,
            "viaFetch": ["fetch failed", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
            "viaUndiciFetch": {"hello": "tls", "auth": false},
            "viaGlobalFetch": {"hello": "tls", "auth": false},
            "viaGlobalDispatcher": {"hello": "tls", "auth": false},
            "requestViaGlobalDispatcher": 200,
            "insecure": ok,
            "strict": untrusted,
            "caString": ok,
            "caBuffer": ok,
            "caArray": ok,
            "otherCa": untrusted,
            "badCa": ["UND_ERR_INVALID_ARG", "invalid tls ca: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"],
            "brokenPem": ["UND_ERR_INVALID_ARG", "invalid tls ca: a PEM section is not valid base64"],
            "insecureIgnoresCa": ok,
        })
    );
    let text = v.to_string();
    for secret in ["pa55word", "t0ken", "s3cret", "user"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

/// Requests with the same TLS options share one client and so one pooled connection (one
/// handshake), whichever `Agent` they go through; another option set gets its own client.
#[tokio::test]
async fn clients_are_reused_per_tls_option_set() {
    let pki = pki();
    let server = https_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { request, Agent } from 'undici';
        const CA = CA_PEM;
        const get = async (agent) => (await (await request('https://ADDR/hello', { dispatcher: agent })).body.json()).hello;
        const out = [];
        const a = new Agent({ connect: { ca: CA } });
        for (let i = 0; i < 3; i++) out.push(await get(a));
        out.push(await get(new Agent({ connect: { ca: CA } })));
        const b = new Agent({ connect: { rejectUnauthorized: false } });
        for (let i = 0; i < 2; i++) out.push(await get(b));
        export default out;
    "#;
    let v = r.run(&with_pems(src, server.addr, &pki)).await.unwrap();
    assert_eq!(v, json!(["tls", "tls", "tls", "tls", "tls", "tls"]));
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 2);
}

/// The expired certificate of a server is reported as such, with Node's code.
#[tokio::test]
async fn expired_certificate_is_reported() {
    let ca = ca("openfn test ca");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let leaf = params.signed_by(&key, &ca).unwrap();
    let pki = Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        other_ca_pem: String::new(),
        chain: vec![leaf.der().clone()],
        key_der: key.serialize_der(),
        client_cert_pem: String::new(),
        client_key_pem: String::new(),
    };
    let server = https_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { request, Agent } from 'undici';
        let out = 'succeeded';
        try {
          await request('https://ADDR/hello', { dispatcher: new Agent({ connect: { ca: CA_PEM } }) });
        } catch (e) { out = [e.code, e.message]; }
        export default out;
    "#;
    let v = r.run(&with_pems(src, server.addr, &pki)).await.unwrap();
    assert_eq!(v[0], "CERT_HAS_EXPIRED", "{v}");
    let prefix = format!(
        "request to https://{}/hello failed: the server certificate has expired (invalid peer certificate: certificate expired",
        server.addr
    );
    assert!(v[1].as_str().unwrap().starts_with(&prefix), "{v}");
}

/// The real `@openfn/language-common` (`util.request` with `tls`) and `@openfn/language-http`
/// (`configuration.tls`) against the HTTPS server.
#[tokio::test]
async fn language_common_and_http_tls_option() {
    let pki = pki();
    let server = https_server(&pki).await;
    let dir = common::adaptors_dir();
    let r = common::realm(common::policy_for(&dir), None).await;
    let src = r#"
        import { util } from '@openfn/language-common';
        import { get, execute } from '@openfn/language-http';
        const CA = CA_PEM;
        const url = 'https://ADDR/hello';
        const fail = async (p) => { try { await p; return 'succeeded'; } catch (e) { return [e.code, e.message]; } };
        const common = async (opts) => { const r = await util.request('GET', url, opts); return [r.statusCode, r.body]; };
        const http = async (configuration) => (await execute(get('/hello'))({ configuration, data: {} })).data;
        export default {
          commonDefault: await fail(util.request('GET', url, { headers: { authorization: 'Bearer s3cret' } })),
          commonCa: await common({ tls: { ca: CA } }),
          commonInsecure: await common({ tls: { rejectUnauthorized: false } }),
          httpCa: await http({ baseUrl: 'https://ADDR', tls: { ca: CA }, username: 'u', password: 'pa55word' }),
          httpDefault: await fail(http({ baseUrl: 'https://ADDR', username: 'u', password: 'pa55word' })),
        };
    "#;
    let v = r
        .run_at(
            &dir.join("job.mjs").to_string_lossy(),
            &with_pems(src, server.addr, &pki),
        )
        .await
        .unwrap();
    let addr = server.addr;
    let untrusted = json!([
        "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
        format!(
            "request to https://{addr}/hello failed: the server certificate is not signed by a trusted CA (invalid peer certificate: UnknownIssuer)"
        )
    ]);
    assert_eq!(
        v,
        json!({
            "commonDefault": untrusted,
            "commonCa": [200, {"hello": "tls", "auth": false}],
            "commonInsecure": [200, {"hello": "tls", "auth": false}],
            "httpCa": {"hello": "tls", "auth": true},
            "httpDefault": untrusted,
        })
    );
    let logs = r.logs.lines().join("\n");
    for secret in ["pa55word", "s3cret", "dTpwYTU1d29yZA"] {
        assert!(!logs.contains(secret), "{secret} leaked: {logs}");
    }
}

/// Mutual TLS: `cert`/`key` (strings or Buffers) give the client certificate; without them
/// the server refuses the connection; `pfx` is refused clearly; key material never appears in
/// errors.
#[tokio::test]
async fn client_certificates() {
    let pki = pki();
    let server = serve(&pki, true).await;
    let dir = tempfile::tempdir().unwrap();
    let r = common::realm(common::policy_for(dir.path()), None).await;
    let src = r#"
        import { request, Agent } from 'undici';
        import { Buffer } from 'node:buffer';
        const CA = CA_PEM;
        const attempt = async (connect) => {
          try {
            const res = await request('https://ADDR/hello', { dispatcher: new Agent({ connect }) });
            return [res.statusCode, await res.body.json()];
          } catch (e) {
            return [e.code, e.message];
          }
        };
        export default {
          noCert: await attempt({ ca: CA }),
          strings: await attempt({ ca: CA, cert: CLIENT_CERT, key: CLIENT_KEY }),
          buffers: await attempt({ ca: CA, cert: Buffer.from(CLIENT_CERT), key: [{ pem: Buffer.from(CLIENT_KEY) }] }),
          keyOnly: await attempt({ ca: CA, key: CLIENT_KEY }),
          badKey: await attempt({ ca: CA, cert: CLIENT_CERT, key: CLIENT_KEY.slice(0, 80) }),
          pfx: await attempt({ ca: CA, pfx: Buffer.from('not used') }),
        };
    "#;
    let v = r.run(&with_pems(src, server.addr, &pki)).await.unwrap();
    let addr = server.addr;
    let ok = json!([200, {"hello": "tls", "auth": false}]);
    assert_eq!(
        v,
        json!({
            "noCert": ["ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", format!("request to https://{addr}/hello failed: the server requires a client certificate (received fatal alert: CertificateRequired)")],
            "strings": ok,
            "buffers": ok,
            "keyOnly": ["UND_ERR_INVALID_ARG", "the tls option key needs a cert"],
            "badKey": ["UND_ERR_INVALID_ARG", "invalid tls cert/key: expected a PEM certificate and an unencrypted PEM private key"],
            "pfx": ["UND_ERR_INVALID_ARG", "the tls option pfx is not supported: pass cert and key as PEM"],
        })
    );
}
