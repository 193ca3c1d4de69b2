//! The native HTTP transport: one `reqwest` client per TLS configuration (Node's
//! `rejectUnauthorized`, `ca` replacing the default roots, `cert`/`key` for mutual TLS),
//! redirects followed here (so every hop is checked against the policy and credentials are
//! dropped on cross-origin hops), bodies buffered and decoded (br, gzip, deflate), errors free
//! of credentials with Node-style codes (`ECONNREFUSED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
//! `CERT_HAS_EXPIRED`, …).

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::Mutex;
use std::time::Duration;

use super::{HttpFailure, HttpFuture, HttpRequest, HttpResponse, HttpTransport, TlsOptions};
use crate::policy::HostPolicy;
use crate::util::lock;

/// The native [`HttpTransport`]: reqwest clients, pooled per TLS option set. Share one per
/// process (a wasm host uses it to perform its guests' requests under the same policy).
#[derive(Default)]
pub struct ReqwestTransport {
    clients: Mutex<HashMap<TlsOptions, reqwest::Client>>,
}

impl std::fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReqwestTransport")
    }
}

impl HttpTransport for ReqwestTransport {
    fn send(&self, policy: &HostPolicy, req: HttpRequest) -> HttpFuture {
        let client = self.client(req.tls.clone());
        let policy = policy.clone();
        Box::pin(async move {
            let client = client.map_err(|m| HttpFailure::new(m, "UND_ERR_INVALID_ARG"))?;
            perform(&client, &policy, req)
                .await
                .map_err(|(message, code)| HttpFailure::new(message, code))
        })
    }
}

impl ReqwestTransport {
    /// A transport with no clients built yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `tls`, built on first use. Build errors are not cached (they are cheap
    /// and the request fails anyway).
    fn client(&self, mut tls: TlsOptions) -> Result<reqwest::Client, String> {
        if !tls.reject_unauthorized {
            // Without verification the trusted roots do not matter.
            tls.ca = None;
        }
        if let Some(c) = lock(&self.clients).get(&tls) {
            return Ok(c.clone());
        }
        let client = build_client(&tls)?;
        lock(&self.clients).insert(tls, client.clone());
        Ok(client)
    }

    /// How many clients have been built (one per distinct TLS option set).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.clients).len()
    }
}

fn build_client(tls: &TlsOptions) -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS crypto provider: make ring the process default
    // unless the embedder already chose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if tls.pfx {
        return Err("the tls option pfx is not supported: pass cert and key as PEM".to_owned());
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if !tls.reject_unauthorized {
        builder = builder.tls_danger_accept_invalid_certs(true);
    } else if let Some(pem) = &tls.ca {
        // As in Node, `ca` replaces the default roots rather than adding to them.
        builder = builder.tls_certs_only(ca_certificates(pem)?);
    }
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let pem = format!("{cert}\n{key}\n");
            // The key is secret: the error says what is wrong without quoting the input.
            let identity = reqwest::Identity::from_pem(pem.as_bytes()).map_err(|_| {
                "invalid tls cert/key: expected a PEM certificate and an unencrypted PEM private key"
                    .to_owned()
            })?;
            builder = builder.identity(identity);
        }
        (Some(_), None) => return Err("the tls option cert needs a key".to_owned()),
        (None, Some(_)) => return Err("the tls option key needs a cert".to_owned()),
        (None, None) => {}
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the http client: {}", error_text(&e)))
}

/// Parses the PEM certificates of a `ca` option, checking each is usable as a trust anchor.
fn ca_certificates(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::{Error as PemError, PemObject};
    let mut out = Vec::new();
    let mut store = rustls::RootCertStore::empty();
    for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der = der.map_err(|e| {
            let what = match e {
                PemError::MissingSectionEnd { .. } => "a PEM section has no END line",
                PemError::IllegalSectionStart { .. } => "a PEM section header is malformed",
                PemError::Base64Decode(_) => "a PEM section is not valid base64",
                _ => "malformed PEM",
            };
            format!("invalid tls ca: {what}")
        })?;
        store
            .add(der.clone())
            .map_err(|e| format!("invalid tls ca: certificate {} is not usable: {e}", i + 1))?;
        out.push(
            reqwest::Certificate::from_der(&der)
                .map_err(|_| format!("invalid tls ca: certificate {} is not usable", i + 1))?,
        );
    }
    if out.is_empty() {
        return Err(
            "invalid tls ca: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)"
                .to_owned(),
        );
    }
    Ok(out)
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

fn redact(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.to_string()
}

/// `(message, code)` of a failed request.
type Failure = (String, &'static str);

/// Why sending to `url` failed, with a Node-style code: TLS failures get OpenSSL's codes
/// (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, …). The URL is shown without
/// credentials or query; headers never appear.
fn send_failure(e: &reqwest::Error, url: &url::Url) -> Failure {
    let target = redact(url);
    if let Some(tls) = chain(e).find_map(|err| err.downcast_ref::<rustls::Error>()) {
        let (what, code) = tls_failure(tls);
        return (format!("request to {target} failed: {what} ({tls})"), code);
    }
    let code = if e.is_timeout() {
        "UND_ERR_HEADERS_TIMEOUT"
    } else {
        let io_kind = chain(e)
            .filter_map(|err| err.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind)
            .find(|k| *k != std::io::ErrorKind::Other);
        match io_kind {
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => {
                "ECONNRESET"
            }
            Some(std::io::ErrorKind::TimedOut) => "ETIMEDOUT",
            _ => "ECONNREFUSED",
        }
    };
    (
        format!("request to {target} failed: {}", error_text(e)),
        code,
    )
}

/// The errors behind `e`, looking inside `io::Error`s too (whose `source()` skips the error
/// they wrap).
fn chain<'a>(e: &'a reqwest::Error) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(
        e.source(),
        |&err: &&'a (dyn std::error::Error + 'static)| match err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        },
    )
}

/// What a TLS error means for the user, and Node's code for it.
fn tls_failure(e: &rustls::Error) -> (&'static str, &'static str) {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => (
                "the server certificate is not signed by a trusted CA",
                "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => (
                "the server certificate is not valid for this host",
                "ERR_TLS_CERT_ALTNAME_INVALID",
            ),
            C::Expired | C::ExpiredContext { .. } => {
                ("the server certificate has expired", "CERT_HAS_EXPIRED")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => (
                "the server certificate is not yet valid",
                "CERT_NOT_YET_VALID",
            ),
            C::Revoked => ("the server certificate is revoked", "CERT_REVOKED"),
            C::BadSignature => (
                "the server certificate has a bad signature",
                "CERT_SIGNATURE_FAILURE",
            ),
            _ => ("the server certificate was rejected", "CERT_REJECTED"),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            rustls::AlertDescription::CertificateRequired => (
                "the server requires a client certificate",
                "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
            ),
            rustls::AlertDescription::BadCertificate => (
                "the server rejected the client certificate",
                "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
            ),
            rustls::AlertDescription::UnknownCA => (
                "the server does not trust the client certificate",
                "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
            ),
            _ => ("the server ended the TLS handshake", "ECONNRESET"),
        },
        _ => ("the TLS handshake failed", "ECONNRESET"),
    }
}

async fn perform(
    client: &reqwest::Client,
    policy: &HostPolicy,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
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
        if !policy.host_allowed(&host, url.port_or_known_default()) {
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
        let resp = rb.send().await.map_err(|e| send_failure(&e, &url))?;
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
        return Ok(HttpResponse {
            status,
            url: final_url,
            headers: headers_out,
            body: bytes.to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(reject_unauthorized: bool, ca: Option<&str>) -> TlsOptions {
        TlsOptions {
            reject_unauthorized,
            ca: ca.map(str::to_owned),
            ..TlsOptions::default()
        }
    }

    #[test]
    fn one_client_per_tls_option_set() {
        let http = ReqwestTransport::new();
        http.client(tls(true, None)).unwrap();
        http.client(tls(true, None)).unwrap();
        assert_eq!(http.len(), 1);
        http.client(tls(false, None)).unwrap();
        // Without verification the roots are irrelevant: same client.
        http.client(tls(false, Some("anything"))).unwrap();
        assert_eq!(http.len(), 2);
        // A bad `ca` fails each time and caches nothing.
        let e = http.client(tls(true, Some("nope"))).unwrap_err();
        assert!(
            e.starts_with("invalid tls ca: no PEM certificate found"),
            "{e}"
        );
        assert_eq!(http.len(), 2);
    }

    #[test]
    fn client_certificate_needs_both_halves() {
        let http = ReqwestTransport::new();
        let only_cert = TlsOptions {
            reject_unauthorized: true,
            cert: Some("x".to_owned()),
            ..TlsOptions::default()
        };
        assert_eq!(
            http.client(only_cert).unwrap_err(),
            "the tls option cert needs a key"
        );
        let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";
        let bad_pair = TlsOptions {
            reject_unauthorized: true,
            cert: Some("not a cert".to_owned()),
            key: Some(secret.to_owned()),
            ..TlsOptions::default()
        };
        let e = http.client(bad_pair).unwrap_err();
        assert!(e.starts_with("invalid tls cert/key"), "{e}");
        assert!(!e.contains("c2VjcmV0"), "{e}");
    }
}
