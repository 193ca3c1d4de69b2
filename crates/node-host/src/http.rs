//! `fetch` and the `undici` module's requests, and the HTTP transport seam: the realm hands
//! each request to the host's [`HttpTransport`]. The native build's is [`ReqwestTransport`]
//! (`http/native.rs`); an embedder without sockets (the wasm tier's guest) supplies one that
//! asks its host, which performs the request with its own `ReqwestTransport` under its policy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rquickjs::function::{Async, Func};
use rquickjs::{ArrayBuffer, Ctx, Object, TypedArray, Value};
use serde::{Deserialize, Serialize};

use crate::policy::HostPolicy;
use crate::util::{bytes_of, throw_error};

#[cfg(feature = "native")]
mod native;
#[cfg(feature = "native")]
pub use native::ReqwestTransport;

/// What `fetch` needs of the host: its HTTP transport and its policy.
pub(crate) trait HttpContext: Send + Sync {
    fn http(&self) -> &dyn HttpTransport;
    fn policy(&self) -> &HostPolicy;
}

/// The future of one request.
pub type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpFailure>>>>;

/// Performs the realm's HTTP requests. Implementations enforce `policy` (allowed hosts, on every
/// redirect hop), follow redirects up to the request's limit and buffer the body.
pub trait HttpTransport: Send + Sync {
    /// Sends `req` under `policy`.
    fn send(&self, policy: &HostPolicy, req: HttpRequest) -> HttpFuture;
}

/// A transport that refuses every request (the default of a build without the `native`
/// feature when the embedder supplies none).
#[derive(Debug, Default)]
pub struct NoHttp;

impl HttpTransport for NoHttp {
    fn send(&self, _policy: &HostPolicy, _req: HttpRequest) -> HttpFuture {
        Box::pin(async {
            Err(HttpFailure::new(
                "this host has no HTTP transport".to_owned(),
                "ERR_HOST_NOT_ALLOWED",
            ))
        })
    }
}

/// The TLS options of a request (undici's `connect` options); one client is built per distinct
/// set and reused, so connections are pooled per set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlsOptions {
    /// Verify the server certificate (Node's `rejectUnauthorized`, default true).
    reject_unauthorized: bool,
    /// PEM certificates that replace the default trusted roots (Node's `ca`).
    ca: Option<String>,
    /// PEM client certificate chain and private key for mutual TLS (Node's `cert`/`key`).
    cert: Option<String>,
    key: Option<String>,
    /// Node's `pfx` (PKCS#12) was given: not supported, reported as such.
    pfx: bool,
}

/// One request as the realm made it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HttpRequest {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    #[serde(with = "opt_b64")]
    body: Option<Vec<u8>>,
    max_redirections: u32,
    tls: TlsOptions,
    timeout_ms: Option<f64>,
}

/// The buffered response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HttpResponse {
    status: u16,
    url: String,
    headers: Vec<(String, String)>,
    #[serde(with = "b64")]
    body: Vec<u8>,
}

/// Why a request failed: a message free of credentials and a Node-style code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFailure {
    /// The error's message.
    pub message: String,
    /// Node's `code` (`ECONNREFUSED`, `ERR_HOST_NOT_ALLOWED`, …).
    pub code: String,
}

impl HttpFailure {
    /// A failure with `message` and `code`.
    pub fn new(message: String, code: &str) -> Self {
        Self {
            message,
            code: code.to_owned(),
        }
    }
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

mod opt_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => super::b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        use base64::Engine as _;
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| base64::engine::general_purpose::STANDARD.decode(t))
            .transpose()
            .map_err(serde::de::Error::custom)
    }
}

fn parse_req<'js>(req: &Object<'js>) -> rquickjs::Result<HttpRequest> {
    let headers: Vec<Vec<String>> = req
        .get::<_, Option<Vec<Vec<String>>>>("headers")?
        .unwrap_or_default();
    let body: Option<TypedArray<'js, u8>> = req.get("body")?;
    Ok(HttpRequest {
        method: req
            .get::<_, Option<String>>("method")?
            .unwrap_or_else(|| "GET".to_owned())
            .to_ascii_uppercase(),
        url: req.get("url")?,
        headers: headers
            .into_iter()
            .filter_map(|mut kv| {
                let v = kv.pop()?;
                let k = kv.pop()?;
                Some((k, v))
            })
            .collect(),
        body: body.as_ref().map(bytes_of),
        max_redirections: req
            .get::<_, Option<f64>>("maxRedirections")?
            .map(|n| n.clamp(0.0, 100.0) as u32)
            .unwrap_or(0),
        tls: TlsOptions {
            reject_unauthorized: req
                .get::<_, Option<bool>>("rejectUnauthorized")?
                .unwrap_or(true),
            ca: req.get("ca")?,
            cert: req.get("cert")?,
            key: req.get("key")?,
            pfx: req.get::<_, Option<bool>>("pfx")?.unwrap_or(false),
        },
        timeout_ms: req.get("timeout")?,
    })
}

pub(crate) fn add_fetch_function<'js>(
    ctx: &Ctx<'js>,
    host: &Object<'js>,
    shared: Arc<dyn HttpContext>,
) -> rquickjs::Result<()> {
    let _ = ctx;
    host.set(
        "http",
        Func::from(Async(move |ctx: Ctx<'js>, req: Object<'js>| {
            let shared = shared.clone();
            let parsed = parse_req(&req);
            async move {
                let req = parsed?;
                let sent = shared.http().send(shared.policy(), req);
                match sent.await {
                    Ok(resp) => {
                        let out = Object::new(ctx.clone())?;
                        out.set("status", resp.status)?;
                        out.set("url", resp.url)?;
                        let hs: Vec<Vec<String>> =
                            resp.headers.into_iter().map(|(k, v)| vec![k, v]).collect();
                        out.set("headers", hs)?;
                        out.set("body", ArrayBuffer::new(ctx.clone(), resp.body)?)?;
                        Ok::<Value<'js>, rquickjs::Error>(out.into_value())
                    }
                    Err(e) => Err(throw_error(&ctx, &e.message, Some(&e.code))),
                }
            }
        })),
    )?;
    Ok(())
}
