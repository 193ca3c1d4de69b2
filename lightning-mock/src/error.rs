//! The crate's error type.

/// What can go wrong starting or configuring the mock.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A key given as base64 PEM (or PEM) could not be read.
    #[error("invalid key {what}: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Signing or key generation failed.
    #[error("jwt: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// RSA key generation or encoding failed.
    #[error("rsa: {0}")]
    Rsa(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
