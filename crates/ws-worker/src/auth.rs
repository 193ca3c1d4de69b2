//! Tokens (§2): the worker's HS256 JWT sent as the socket `token` param, and verification of
//! the RS256 run tokens Lightning hands out with each claimed run.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use crate::WorkerError;

/// The issuer of worker tokens.
pub const WORKER_ISSUER: &str = "urn:openfn:worker";
/// The issuer of run tokens.
pub const LIGHTNING_ISSUER: &str = "Lightning";
/// Clock tolerance for run-token `exp`/`nbf` (seconds).
pub const RUN_TOKEN_LEEWAY_SECS: u64 = 5;

#[derive(Serialize)]
struct WorkerClaims<'a> {
    worker_id: &'a str,
    iat: u64,
    iss: &'a str,
}

/// A random human-readable worker id such as `curly-parrot-jumps`, one per process.
pub fn worker_id() -> String {
    const ADJ: &[&str] = &[
        "curly", "brave", "quiet", "rapid", "sunny", "gentle", "lucky", "mighty", "clever",
        "shiny", "fuzzy", "silent", "happy", "bold", "calm", "eager",
    ];
    const NOUN: &[&str] = &[
        "parrot", "badger", "otter", "falcon", "panda", "tiger", "walrus", "heron", "lynx",
        "gecko", "bison", "koala", "puffin", "marmot", "ferret", "crane",
    ];
    const VERB: &[&str] = &[
        "jumps", "runs", "sings", "swims", "dances", "hops", "glides", "climbs", "roams", "dives",
        "naps", "waits", "wanders", "spins", "builds", "dreams",
    ];
    let mut rng = rand::rng();
    let pick =
        |l: &[&'static str], r: &mut rand::rngs::ThreadRng| l.choose(r).copied().unwrap_or("x");
    format!(
        "{}-{}-{}",
        pick(ADJ, &mut rng),
        pick(NOUN, &mut rng),
        pick(VERB, &mut rng)
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints the worker JWT: header exactly `{"alg":"HS256"}`, claims exactly
/// `{worker_id, iat, iss}`, key = the raw secret bytes.
pub fn worker_token(secret: &str, worker_id: &str) -> Result<String, WorkerError> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = None;
    let claims = WorkerClaims {
        worker_id,
        iat: now_secs(),
        iss: WORKER_ISSUER,
    };
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| WorkerError::Token(format!("failed to sign the worker token: {e}")))
}

#[derive(Deserialize)]
struct RunClaims {
    #[allow(dead_code, reason = "decoded so a malformed token fails to parse")]
    #[serde(default)]
    iss: Option<String>,
}

/// Verifies run tokens against Lightning's public key (§2.2).
pub struct RunTokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for RunTokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunTokenVerifier")
    }
}

/// What a bad public key message ends with: where the key goes and where it comes from.
const KEY_HINT: &str = "; --lightning-public-key / WORKER_LIGHTNING_PUBLIC_KEY takes the base64 PEM that Lightning's keys come with (`lightning-mock gen-keys` prints a pair)";

impl RunTokenVerifier {
    /// Builds a verifier from the base64 of a PEM public key, PKCS#1 (`RSA PUBLIC KEY`) or
    /// SPKI (`PUBLIC KEY`). A raw PEM (not base64) is accepted too.
    pub fn from_base64_pem(b64: &str) -> Result<Self, WorkerError> {
        let trimmed = b64.trim();
        let pem = if trimmed.starts_with("-----BEGIN") {
            trimmed.as_bytes().to_vec()
        } else {
            let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
            // Padded or not (the mock's keys are unpadded), like Node's lenient decoder.
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(compact.trim_end_matches('='))
                .map_err(|e| {
                    WorkerError::Token(format!("lightning public key is not base64: {e}{KEY_HINT}"))
                })?
        };
        let key = DecodingKey::from_rsa_pem(&pem).map_err(|e| {
            WorkerError::Token(format!(
                "lightning public key is not an RSA PEM public key: {e}{KEY_HINT}"
            ))
        })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[LIGHTNING_ISSUER]);
        validation.leeway = RUN_TOKEN_LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        validation.required_spec_claims = ["iss".to_string()].into_iter().collect();
        validation.validate_aud = false;
        Ok(Self { key, validation })
    }

    /// Checks signature, `iss == "Lightning"`, and `exp`/`nbf` with 5 s tolerance. Like the
    /// kit, `id`/`sub` are not compared with the run.
    pub fn verify(&self, token: &str) -> Result<(), WorkerError> {
        jsonwebtoken::decode::<RunClaims>(token, &self.key, &self.validation)
            .map(|_| ())
            .map_err(|e| WorkerError::Token(format!("invalid run token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PRIVATE: &str = include_str!("../tests/fixtures/run_private.pem");
    const PKCS1: &str = include_str!("../tests/fixtures/run_public_pkcs1.pem");
    const SPKI: &str = include_str!("../tests/fixtures/run_public_spki.pem");
    const OTHER_SPKI: &str = include_str!("../tests/fixtures/other_public_spki.pem");

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn run_token(claims: serde_json::Value) -> String {
        let key = EncodingKey::from_rsa_pem(PRIVATE.as_bytes()).expect("fixture key");
        let mut header = Header::new(Algorithm::RS256);
        header.typ = None;
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }

    fn verifier(pem: &str) -> RunTokenVerifier {
        RunTokenVerifier::from_base64_pem(&b64(pem)).expect("verifier")
    }

    #[test]
    fn worker_token_shape() {
        let t = worker_token("secret", "curly-parrot-jumps").expect("token");
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let dec = |p: &str| -> serde_json::Value {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .expect("b64");
            serde_json::from_slice(&bytes).expect("json")
        };
        assert_eq!(dec(parts[0]), json!({"alg": "HS256"}));
        let claims = dec(parts[1]);
        let obj = claims.as_object().expect("object");
        assert_eq!(obj.len(), 3);
        assert_eq!(claims["worker_id"], "curly-parrot-jumps");
        assert_eq!(claims["iss"], WORKER_ISSUER);
        assert!(claims["iat"].as_u64().is_some_and(|i| i > 1_600_000_000));
        // Verifies with the raw secret bytes.
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&t, &DecodingKey::from_secret(b"secret"), &v)
                .is_ok()
        );
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&t, &DecodingKey::from_secret(b"other"), &v)
                .is_err()
        );
    }

    #[test]
    fn worker_ids_are_three_words() {
        let id = worker_id();
        assert_eq!(id.split('-').count(), 3, "{id}");
    }

    #[test]
    fn run_token_pkcs1_and_spki() {
        let now = now_secs();
        let t = run_token(
            json!({"id": "r", "iss": "Lightning", "nbf": now, "iat": now, "exp": now + 60}),
        );
        assert!(verifier(PKCS1).verify(&t).is_ok());
        assert!(verifier(SPKI).verify(&t).is_ok());
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(SPKI);
        assert!(
            !unpadded.len().is_multiple_of(4),
            "fixture should need padding"
        );
        assert!(
            RunTokenVerifier::from_base64_pem(&unpadded)
                .expect("unpadded")
                .verify(&t)
                .is_ok()
        );
        assert!(
            RunTokenVerifier::from_base64_pem(SPKI)
                .expect("raw pem")
                .verify(&t)
                .is_ok()
        );
        assert!(verifier(OTHER_SPKI).verify(&t).is_err());
    }

    #[test]
    fn run_token_clock_tolerance_and_issuer() {
        let now = now_secs();
        let v = verifier(SPKI);
        let nbf4 = run_token(json!({"iss": "Lightning", "nbf": now + 4, "exp": now + 60}));
        assert!(v.verify(&nbf4).is_ok());
        let nbf6 = run_token(json!({"iss": "Lightning", "nbf": now + 6, "exp": now + 60}));
        assert!(v.verify(&nbf6).is_err());
        let expired = run_token(json!({"iss": "Lightning", "exp": now - 10}));
        assert!(v.verify(&expired).is_err());
        let wrong_iss = run_token(json!({"iss": "Darkness", "exp": now + 60}));
        assert!(v.verify(&wrong_iss).is_err());
        assert!(v.verify("x.y.z").is_err());
    }

    #[test]
    fn bad_keys() {
        assert!(RunTokenVerifier::from_base64_pem("!!!").is_err());
        assert!(RunTokenVerifier::from_base64_pem(&b64("not a pem")).is_err());
    }
}
