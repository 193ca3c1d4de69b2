//! Hashes and HMACs for the `crypto` built-in (`createHash`, `createHmac`), in Rust.

use hmac::{Hmac, Mac};
use sha2::Digest;

/// `alg` digest of `data`, or `None` for an unsupported algorithm.
pub(crate) fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match alg.to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut m = <M as hmac::digest::KeyInit>::new_from_slice(key).ok()?;
    m.update(data);
    Some(m.finalize().into_bytes().to_vec())
}

/// HMAC of `data` under `key` with `alg`, or `None` for an unsupported algorithm.
pub(crate) fn hmac(alg: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    match alg.to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => mac::<Hmac<md5::Md5>>(key, data),
        "sha1" => mac::<Hmac<sha1::Sha1>>(key, data),
        "sha224" => mac::<Hmac<sha2::Sha224>>(key, data),
        "sha256" => mac::<Hmac<sha2::Sha256>>(key, data),
        "sha384" => mac::<Hmac<sha2::Sha384>>(key, data),
        "sha512" => mac::<Hmac<sha2::Sha512>>(key, data),
        _ => None,
    }
}
