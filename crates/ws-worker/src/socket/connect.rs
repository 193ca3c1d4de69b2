//! Opening the WebSocket: every resolved address (IPv6 and IPv4) or an HTTP CONNECT proxy,
//! TLS with the web PKI roots plus an optional CA file, and the message limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::{SocketConfig, connect_url, transport_limit};

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection attempt failed.
#[derive(Debug, Default)]
pub(super) struct ConnectError {
    pub message: String,
    /// Lightning answered the upgrade with 401: it refused the worker token.
    pub unauthorized: bool,
}

impl From<String> for ConnectError {
    fn from(message: String) -> Self {
        ConnectError {
            message,
            unauthorized: false,
        }
    }
}

impl From<&str> for ConnectError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks that the CA file can be read and holds at least one certificate.
pub(super) fn check_ca_file(path: &std::path::Path) -> Result<(), String> {
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    let mut reader = std::io::BufReader::new(pem.as_slice());
    let certs: Vec<_> = rustls_pemfile::certs(&mut reader).collect();
    if certs.is_empty() {
        return Err(format!("no PEM certificate in CA file {}", path.display()));
    }
    tls_connector(&Some(path.to_path_buf())).map(|_| ())
}

fn tls_connector(ca_file: &Option<PathBuf>) -> Result<Connector, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let mut reader = std::io::BufReader::new(pem.as_slice());
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls setup failed: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Connector::Rustls(Arc::new(config)))
}

/// Resolves the host and tries every address (IPv6 and IPv4) until one connects.
pub(super) async fn connect(config: &SocketConfig) -> Result<Ws, ConnectError> {
    let url = connect_url(&config.base_url, &config.token, &config.worker_version)?;
    let host = url
        .host_str()
        .ok_or("lightning url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or("lightning url has no port")?;
    let connector = if url.scheme() == "wss" {
        Some(tls_connector(&config.ca_file)?)
    } else {
        None
    };
    let max_message = config.max_message_bytes;
    let handshake = |tcp: TcpStream, what: String| {
        let connector = connector.clone();
        let url = url.clone();
        async move {
            let request = url
                .as_str()
                .into_client_request()
                .map_err(|e| ConnectError::from(e.to_string()))?;
            let limit = transport_limit(max_message);
            let ws_config = WebSocketConfig::default()
                .max_message_size(Some(limit))
                .max_frame_size(Some(limit));
            tokio_tungstenite::client_async_tls_with_config(
                request,
                tcp,
                Some(ws_config),
                connector,
            )
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| ConnectError {
                unauthorized: matches!(
                    &e,
                    tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401
                ),
                message: format!("websocket handshake with {what}: {e}"),
            })
        }
    };
    if let Some(proxy) = &config.proxy {
        let tcp = connect_via_proxy(proxy, &host, port).await?;
        return handshake(tcp, format!("{host}:{port} via {proxy}")).await;
    }
    let mut last = ConnectError::default();
    for addr in resolve(&host, port).await? {
        match connect_tcp(addr).await {
            Ok(tcp) => match handshake(tcp, addr.to_string()).await {
                Ok(ws) => return Ok(ws),
                Err(e) => last = e,
            },
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolved to no address"));
    }
    Ok(addrs)
}

async fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, String> {
    match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => {
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
        Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
        Err(_) => Err(format!("connect {addr}: timed out")),
    }
}

/// Opens a tunnel to `host:port` through an HTTP CONNECT proxy (trying each proxy address).
async fn connect_via_proxy(proxy: &str, host: &str, port: u16) -> Result<TcpStream, String> {
    use base64::Engine as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = url::Url::parse(proxy).map_err(|e| format!("invalid proxy url {proxy:?}: {e}"))?;
    let phost = p
        .host_str()
        .ok_or("proxy url has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let pport = p.port_or_known_default().unwrap_or(80);
    let mut last = String::new();
    for addr in resolve(&phost, pport).await? {
        let mut tcp = match connect_tcp(addr).await {
            Ok(t) => t,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if !p.username().is_empty() {
            let creds = format!("{}:{}", p.username(), p.password().unwrap_or(""));
            let b64 = base64::engine::general_purpose::STANDARD.encode(creds);
            req.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
        }
        req.push_str("\r\n");
        if let Err(e) = tcp.write_all(req.as_bytes()).await {
            last = format!("proxy {addr}: {e}");
            continue;
        }
        // Read the response head byte by byte so nothing of the tunnel is consumed.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            match tcp.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => break,
            }
        }
        let status = String::from_utf8_lossy(&head);
        let ok = status.split_whitespace().nth(1) == Some("200");
        if ok {
            return Ok(tcp);
        }
        last = format!(
            "proxy {addr} refused CONNECT {target}: {}",
            status.lines().next().unwrap_or("")
        );
    }
    Err(last)
}
