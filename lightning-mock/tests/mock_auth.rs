//! Worker-token auth on the socket upgrade, RS256 run tokens with Lightning's claims verified
//! on `run:<id>` join, and `gen-keys`.

mod common;

use std::sync::OnceLock;

use base64::Engine as _;
use common::{Client, plan, post, start_with};
use openfn_lightning_mock::{Config, KeySet, RunTokens, worker_token};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::generate().expect("keys"))
}

fn secure() -> Config {
    Config {
        worker_secret: Some(keys().worker_secret.clone()),
        verify_worker_tokens: true,
        runs_private_key: Some(keys().runs_private_key.clone()),
        ..Config::default()
    }
}

fn status_of(err: tungstenite::Error) -> u16 {
    match err {
        tungstenite::Error::Http(res) => res.status().as_u16(),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

fn claims(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let decode = |p: Option<&str>| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.expect("jwt part"))
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    };
    (decode(parts.next()), decode(parts.next()))
}

#[tokio::test]
async fn worker_token_is_checked_on_upgrade() {
    let mock = start_with(secure()).await;
    let secret = &keys().worker_secret;
    let err = Client::try_connect(&mock, "vsn=2.0.0")
        .await
        .err()
        .expect("refused");
    assert_eq!(status_of(err), 401, "missing token");
    let wrong = worker_token("not-the-secret", "w1").expect("token");
    let err = Client::try_connect(&mock, &format!("token={wrong}"))
        .await
        .err()
        .expect("refused");
    assert_eq!(status_of(err), 401, "wrong secret");
    // Right secret, wrong issuer.
    let bad_iss = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"worker_id": "w", "iat": 1, "iss": "someone"}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign");
    let err = Client::try_connect(&mock, &format!("token={bad_iss}"))
        .await
        .err()
        .expect("refused");
    assert_eq!(status_of(err), 401, "wrong issuer");
    let no_worker_id = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iat": 1, "iss": "urn:openfn:worker"}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign");
    let err = Client::try_connect(&mock, &format!("token={no_worker_id}"))
        .await
        .err()
        .expect("refused");
    assert_eq!(status_of(err), 401, "missing worker_id");

    let good = worker_token(secret, "curly-parrot").expect("token");
    let mut c = Client::connect(&mock, &format!("token={good}&api_version=1.2&vsn=2.0.0")).await;
    c.join_queue().await;
    let (_, workers) = common::get(&mock, "/workers").await;
    assert_eq!(workers["workers"][0]["worker_id"], "curly-parrot");
    mock.shutdown().await;
}

#[tokio::test]
async fn run_tokens_carry_lightning_claims_and_are_verified_on_join() {
    let mock = start_with(secure()).await;
    let token = worker_token(&keys().worker_secret, "w").expect("token");
    post(&mock, "/run", plan("11111111-2222-3333-4444-555555555555")).await;
    post(&mock, "/run", plan("other-run")).await;
    let mut c = Client::connect(&mock, &format!("token={token}")).await;
    let q = c.join_queue().await;
    let runs = c.claim(&q, 1, &["*"]).await;
    let id = "11111111-2222-3333-4444-555555555555";
    assert_eq!(runs[0]["id"], id);
    let run_token = runs[0]["token"].as_str().expect("token").to_owned();
    let (header, body) = claims(&run_token);
    assert_eq!(header["alg"], "RS256");
    let mut keys_present: Vec<&str> = body
        .as_object()
        .expect("claims")
        .keys()
        .map(String::as_str)
        .collect();
    keys_present.sort_unstable();
    assert_eq!(keys_present, ["exp", "id", "iss", "nbf", "sub"]);
    assert_eq!(body["iss"], "Lightning");
    assert_eq!(body["id"], id);
    assert_eq!(body["sub"], format!("run:{id}"));
    let (nbf, exp) = (
        body["nbf"].as_u64().expect("nbf"),
        body["exp"].as_u64().expect("exp"),
    );
    assert_eq!(exp - nbf, 60 + 10, "run_timeout_ms + grace");
    // The worker-side check with the public key from gen-keys accepts it.
    let public = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&keys().lightning_public_key)
        .expect("b64");
    let public = String::from_utf8(public).expect("pem");
    assert!(public.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    assert_eq!(mock.lightning_public_key(), Some(public.as_str()));

    // Wrong tokens are refused; a valid token for an unknown run is not_found.
    let (_, reply) = c
        .join(&format!("run:{id}"), json!({"token": "x.y.z"}))
        .await;
    assert_eq!(reply["response"], json!({"reason": "unauthorized"}));
    let (_, reply) = c.join("run:other-run", json!({"token": run_token})).await;
    assert_eq!(
        reply["response"],
        json!({"reason": "unauthorized"}),
        "token of another run"
    );
    let tokens = RunTokens::from_private_key(&keys().runs_private_key).expect("key");
    let ghost = tokens.sign("ghost", 60).expect("sign");
    let (_, reply) = c.join("run:ghost", json!({"token": ghost})).await;
    assert_eq!(reply["response"], json!({"reason": "not_found"}));
    let other = KeySet::generate().expect("keys");
    let forged = RunTokens::from_private_key(&other.runs_private_key)
        .expect("key")
        .sign(id, 60)
        .expect("sign");
    let (_, reply) = c.join(&format!("run:{id}"), json!({"token": forged})).await;
    assert_eq!(
        reply["response"],
        json!({"reason": "unauthorized"}),
        "signed by another key"
    );

    let (_, reply) = c
        .join(&format!("run:{id}"), json!({"token": run_token}))
        .await;
    assert_eq!(reply, json!({"status": "ok", "response": {}}));

    // The run token is the collections bearer.
    let http = common::http();
    let url = format!("{}/collections/things/k1", mock.url());
    let res = http
        .put(&url)
        .bearer_auth(&run_token)
        .json(&json!({"value": "v"}))
        .send()
        .await
        .expect("put");
    assert_eq!(res.status().as_u16(), 200);
    let res = http
        .get(&url)
        .bearer_auth("x.y.z")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status().as_u16(), 401);
    let res = http.get(&url).send().await.expect("get");
    assert_eq!(res.status().as_u16(), 401);
    mock.shutdown().await;
}

#[tokio::test]
async fn no_auth_accepts_any_worker() {
    let mock = start_with(Config::default()).await;
    let mut c = Client::connect(&mock, "vsn=2.0.0").await;
    c.join_queue().await;
    mock.shutdown().await;
}

#[test]
fn gen_keys_prints_usable_keys() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lightning-mock"))
        .arg("gen-keys")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    let value = |name: &str| -> String {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name}=\"")))
            .unwrap_or_else(|| panic!("{name} in output:\n{text}"));
        line[name.len() + 2..line.len() - 1].to_owned()
    };
    let private = value("WORKER_RUNS_PRIVATE_KEY");
    let secret = value("WORKER_SECRET");
    let public = value("WORKER_LIGHTNING_PUBLIC_KEY");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&secret)
            .expect("b64")
            .len(),
        32
    );
    let tokens = RunTokens::from_private_key(&private).expect("private key loads");
    let public = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(public)
        .expect("b64");
    assert_eq!(String::from_utf8(public).expect("pem"), tokens.public_pem);
    let token = tokens.sign("r", 60).expect("sign");
    assert_eq!(tokens.verify(&token, Some("r")), Ok(()));
    assert!(tokens.verify(&token, Some("s")).is_err());
}
