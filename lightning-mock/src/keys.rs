//! Keys and tokens: `gen-keys` output, worker-token (HS256) verification and run-token (RS256)
//! signing and verification, with the exact claims Lightning uses (docs/protocol.md §2).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Issuer of worker tokens.
pub const WORKER_ISSUER: &str = "urn:openfn:worker";
/// Issuer of run tokens.
pub const RUN_ISSUER: &str = "Lightning";
/// The placeholder run token handed out when no private key is configured (kit mock).
pub const PLACEHOLDER_TOKEN: &str = "x.y.z";

/// A fresh set of keys, as `mix lightning.gen_worker_keys` makes them.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// `WORKER_SECRET`: base64 of 32 random bytes, used as is (not decoded) as the HS256 key.
    pub worker_secret: String,
    /// `WORKER_RUNS_PRIVATE_KEY`: base64 (no padding) of a 2048-bit PKCS#1 RSA private key PEM.
    pub runs_private_key: String,
    /// `WORKER_LIGHTNING_PUBLIC_KEY`: base64 (no padding) of the PKCS#1 public key PEM.
    pub lightning_public_key: String,
}

impl KeySet {
    /// Generates a new key set.
    ///
    /// # Errors
    /// [`Error::Rsa`] if key generation or PEM encoding fails.
    pub fn generate() -> Result<Self> {
        let mut rng = rsa::rand_core::OsRng;
        let private =
            rsa::RsaPrivateKey::new(&mut rng, 2048).map_err(|e| Error::Rsa(e.to_string()))?;
        let private_pem = private
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| Error::Rsa(e.to_string()))?;
        let public_pem = private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| Error::Rsa(e.to_string()))?;
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD;
        Ok(Self {
            worker_secret: base64::engine::general_purpose::STANDARD.encode(secret),
            runs_private_key: unpadded.encode(private_pem.as_bytes()),
            lightning_public_key: unpadded.encode(public_pem.as_bytes()),
        })
    }

    /// The text `lightning-mock gen-keys` prints: shell-style assignments and a footer.
    pub fn render(&self) -> String {
        format!(
            "WORKER_RUNS_PRIVATE_KEY=\"{}\"\n\nWORKER_SECRET=\"{}\"\n\nWORKER_LIGHTNING_PUBLIC_KEY=\"{}\"\n\n\n\
             To use these keys, use the above output to set the environment variables.\n\n\
             Lightning (and lightning-mock) expect:\n\n- WORKER_RUNS_PRIVATE_KEY\n- WORKER_SECRET\n\n\
             And the workers expect:\n\n- WORKER_LIGHTNING_PUBLIC_KEY\n- WORKER_SECRET\n",
            self.runs_private_key, self.worker_secret, self.lightning_public_key
        )
    }
}

/// Reads a key given as base64 of a PEM (padded or not) or as the PEM text itself.
///
/// # Errors
/// [`Error::Key`] if it is neither.
pub fn decode_pem_text(what: &'static str, text: &str) -> Result<String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return Ok(text.to_owned());
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(text).map_err(|e| Error::Key {
        what,
        reason: format!("expected base64 of a PEM: {e}"),
    })?;
    let pem = String::from_utf8(bytes).map_err(|_| Error::Key {
        what,
        reason: "the decoded base64 is not UTF-8 PEM text".to_owned(),
    })?;
    if !pem.trim_start().starts_with("-----BEGIN") {
        return Err(Error::Key {
            what,
            reason: "the decoded base64 is not a PEM".to_owned(),
        });
    }
    Ok(pem)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs and verifies run tokens with Lightning's RSA key pair.
pub struct RunTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key as PKCS#1 PEM (what workers get as `WORKER_LIGHTNING_PUBLIC_KEY`).
    pub public_pem: String,
}

impl std::fmt::Debug for RunTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTokens").finish_non_exhaustive()
    }
}

impl RunTokens {
    /// Loads `WORKER_RUNS_PRIVATE_KEY` (base64 PEM or PEM; PKCS#1 or PKCS#8).
    ///
    /// # Errors
    /// [`Error::Key`] when the key can't be read.
    pub fn from_private_key(text: &str) -> Result<Self> {
        let pem = decode_pem_text("WORKER_RUNS_PRIVATE_KEY", text)?;
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(&pem))
            .map_err(|e| Error::Key {
                what: "WORKER_RUNS_PRIVATE_KEY",
                reason: e.to_string(),
            })?;
        let public_pem = private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| Error::Rsa(e.to_string()))?;
        let private_der = private
            .to_pkcs1_der()
            .map_err(|e| Error::Rsa(e.to_string()))?;
        let public = private.to_public_key();
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(private_der.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(
                &public.n().to_bytes_be(),
                &public.e().to_bytes_be(),
            ),
            public_pem,
        })
    }

    /// Signs a run token: RS256, claims `iss: "Lightning"`, `id`, `sub: "run:<id>"`, `nbf: now`,
    /// `exp: now + run_timeout + grace`; no `iat`.
    ///
    /// # Errors
    /// [`Error::Jwt`] if signing fails.
    pub fn sign(&self, run_id: &str, valid_for_secs: u64) -> Result<String> {
        let now = now_secs();
        let claims = json!({
            "iss": RUN_ISSUER,
            "id": run_id,
            "sub": format!("run:{run_id}"),
            "nbf": now,
            "exp": now + valid_for_secs,
        });
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies a run token for the run `run_id` as Lightning does on `run:<id>` join:
    /// signature, required `iss id nbf exp sub`, `iss`, `id`, `sub`, `nbf` and `exp`.
    /// With `run_id: None` only signature, issuer and times are checked (collections bearer).
    ///
    /// # Errors
    /// A short description of the first failed check.
    pub fn verify(&self, token: &str, run_id: Option<&str>) -> std::result::Result<(), String> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["iss", "nbf", "exp", "sub"]);
        validation.set_issuer(&[RUN_ISSUER]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        if let Some(id) = run_id {
            validation.sub = Some(format!("run:{id}"));
        }
        let data = jsonwebtoken::decode::<Value>(token, &self.decoding, &validation)
            .map_err(|e| e.to_string())?;
        let claimed = data.claims.get("id").and_then(Value::as_str);
        match (claimed, run_id) {
            (None, _) => Err("missing required claim id".to_owned()),
            (Some(claimed), Some(id)) if claimed != id => {
                Err(format!("token is for run {claimed}, not {id}"))
            }
            _ => Ok(()),
        }
    }
}

/// The claims of a verified worker token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerClaims {
    /// The worker's id claim.
    pub worker_id: String,
}

/// Verifies a worker token: HS256 over the raw bytes of `secret`, required `iss`
/// (`urn:openfn:worker`), `iat` and `worker_id`; `nbf` checked only when present; no `exp`.
///
/// # Errors
/// A short description of the first failed check.
pub fn verify_worker_token(secret: &str, token: &str) -> std::result::Result<WorkerClaims, String> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims = HashSet::from(["iss".to_owned()]);
    validation.set_issuer(&[WORKER_ISSUER]);
    validation.validate_exp = false;
    validation.validate_nbf = true;
    let data = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|e| e.to_string())?;
    if data.claims.get("iat").is_none_or(Value::is_null) {
        return Err("missing required claim iat".to_owned());
    }
    match data.claims.get("worker_id").and_then(Value::as_str) {
        Some(id) => Ok(WorkerClaims {
            worker_id: id.to_owned(),
        }),
        None => Err("missing required claim worker_id".to_owned()),
    }
}

/// The `worker_id` claim of a worker token, read **without** verifying it: with `--no-auth`
/// the mock still names workers (logs, dashboard) by what their tokens say.
pub(crate) fn unverified_worker_id(token: &str) -> Option<String> {
    let claims = token.split('.').nth(1)?;
    let engine = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(claims).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("worker_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// Mints a worker token the way ws-worker does (header `{"alg":"HS256"}`, claims
/// `worker_id`, `iat`, `iss`). For tests and tools.
///
/// # Errors
/// [`Error::Jwt`] if signing fails.
pub fn worker_token(secret: &str, worker_id: &str) -> Result<String> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = None;
    let claims = json!({"worker_id": worker_id, "iat": now_secs(), "iss": WORKER_ISSUER});
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_tokens_round_trip_and_reject_wrong_secret() {
        let token = worker_token("s3cret", "curly-parrot").expect("sign");
        assert_eq!(
            verify_worker_token("s3cret", &token),
            Ok(WorkerClaims {
                worker_id: "curly-parrot".to_owned()
            })
        );
        assert!(verify_worker_token("other", &token).is_err());
    }

    #[test]
    fn pem_text_accepts_raw_and_base64() {
        let pem = "-----BEGIN X-----\nabc\n-----END X-----\n";
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(pem);
        assert_eq!(decode_pem_text("k", &b64).expect("b64"), pem);
        assert_eq!(decode_pem_text("k", pem).expect("raw"), pem.trim());
        assert!(decode_pem_text("k", "!!!").is_err());
    }
}
