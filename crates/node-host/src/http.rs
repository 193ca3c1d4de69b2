//! The host HTTP client behind `fetch` and the `undici` module: one `reqwest` client per TLS
//! configuration, redirects followed here (so every hop is checked against the policy and
//! credentials are dropped on cross-origin hops), bodies buffered, errors free of credentials.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rquickjs::function::{Async, Func};
use rquickjs::{ArrayBuffer, Ctx, Object, TypedArray, Value};

use crate::host::{Shared, bytes_of, lock, throw_error};

type ClientKey = (bool, Option<String>);

pub(crate) struct HttpClient {
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
}

impl HttpClient {
    pub(crate) fn new() -> Self {
        Self {
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(
        &self,
        reject_unauthorized: bool,
        ca: Option<String>,
    ) -> Result<reqwest::Client, String> {
        let key = (reject_unauthorized, ca);
        if let Some(c) = lock(&self.clients).get(&key) {
            return Ok(c.clone());
        }
        // reqwest is built without a default TLS crypto provider: make ring the process default
        // unless the embedder already chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_danger_accept_invalid_certs(!reject_unauthorized);
        if let Some(pem) = &key.1 {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| format!("invalid ca certificate: {}", e.without_url()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build the http client: {}", e.without_url()))?;
        lock(&self.clients).insert(key, client.clone());
        Ok(client)
    }
}

struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    max_redirections: u32,
    reject_unauthorized: bool,
    ca: Option<String>,
    timeout_ms: Option<f64>,
}

struct Resp {
    status: u16,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_req<'js>(req: &Object<'js>) -> rquickjs::Result<Req> {
    let headers: Vec<Vec<String>> = req
        .get::<_, Option<Vec<Vec<String>>>>("headers")?
        .unwrap_or_default();
    let body: Option<TypedArray<'js, u8>> = req.get("body")?;
    Ok(Req {
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
        reject_unauthorized: req
            .get::<_, Option<bool>>("rejectUnauthorized")?
            .unwrap_or(true),
        ca: req.get("ca")?,
        timeout_ms: req.get("timeout")?,
    })
}

fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

fn error_text(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "request timed out".to_owned()
    } else {
        e.without_url_ref()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_connect() {
            "connection failed".to_owned()
        } else if self.is_body() || self.is_decode() {
            "error reading the response body".to_owned()
        } else if self.is_builder() {
            "invalid request".to_owned()
        } else {
            "error sending the request".to_owned()
        }
    }
}

/// `(message, code)` of a failed request.
type Failure = (String, &'static str);

async fn perform(shared: Arc<Shared>, req: Req) -> Result<Resp, Failure> {
    let client = shared
        .http
        .client(req.reject_unauthorized, req.ca.clone())
        .map_err(|m| (m, "UND_ERR_INVALID_ARG"))?;
    let mut url =
        url::Url::parse(&req.url).map_err(|_| ("Invalid URL".to_owned(), "ERR_INVALID_URL"))?;
    let mut method = req.method.clone();
    let mut body = req.body;
    let mut headers = req.headers;
    let mut left = req.max_redirections;
    loop {
        if !matches!(url.scheme(), "http" | "https") {
            return Err((
                format!("unsupported protocol {}", url.scheme()),
                "ERR_INVALID_URL",
            ));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if !shared
            .policy
            .host_allowed(&host, url.port_or_known_default())
        {
            return Err((
                format!(
                    "request to {} is not allowed by the host policy",
                    redact(&url)
                ),
                "ERR_HOST_NOT_ALLOWED",
            ));
        }
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| ("invalid method".to_owned(), "UND_ERR_INVALID_ARG"))?;
        let mut rb = client.request(m, url.clone());
        for (k, v) in &headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = &body {
            rb = rb.body(b.clone());
        }
        if let Some(t) = req.timeout_ms
            && t.is_finite()
            && t > 0.0
        {
            rb = rb.timeout(Duration::from_secs_f64(t / 1000.0));
        }
        let resp = rb.send().await.map_err(|e| {
            (
                format!("request to {} failed: {}", redact(&url), error_text(&e)),
                if e.is_timeout() {
                    "UND_ERR_HEADERS_TIMEOUT"
                } else {
                    "ECONNREFUSED"
                },
            )
        })?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if left > 0
            && matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(loc) = location
            && let Ok(next) = url.join(&loc)
        {
            left -= 1;
            if status == 303 && method != "HEAD" || matches!(status, 301 | 302) && method == "POST"
            {
                method = "GET".to_owned();
                body = None;
                headers.retain(|(k, _)| {
                    !k.eq_ignore_ascii_case("content-type")
                        && !k.eq_ignore_ascii_case("content-length")
                });
            }
            if next.origin() != url.origin() {
                headers.retain(|(k, _)| {
                    !["authorization", "cookie", "proxy-authorization", "host"]
                        .iter()
                        .any(|h| k.eq_ignore_ascii_case(h))
                });
            }
            url = next;
            continue;
        }
        let final_url = resp.url().to_string();
        let headers_out: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = resp.bytes().await.map_err(|e| {
            (
                format!(
                    "reading the response from {} failed: {}",
                    redact(&url),
                    error_text(&e)
                ),
                "UND_ERR_SOCKET",
            )
        })?;
        return Ok(Resp {
            status,
            url: final_url,
            headers: headers_out,
            body: bytes.to_vec(),
        });
    }
}

pub(crate) fn add_fetch_function<'js>(
    ctx: &Ctx<'js>,
    host: &Object<'js>,
    shared: Arc<Shared>,
) -> rquickjs::Result<()> {
    let _ = ctx;
    host.set(
        "http",
        Func::from(Async(move |ctx: Ctx<'js>, req: Object<'js>| {
            let shared = shared.clone();
            let parsed = parse_req(&req);
            async move {
                let req = parsed?;
                match perform(shared, req).await {
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
                    Err((message, code)) => Err(throw_error(&ctx, &message, Some(code))),
                }
            }
        })),
    )?;
    Ok(())
}
