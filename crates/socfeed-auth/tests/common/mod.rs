//! Helpers shared by the integration tests: fixtures, a fixed clock, hand-crafted tokens.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use socfeed_auth::{Claims, KeySettings, Role, Verifier};

pub const SECRET: &str = "socfeed-auth-test-secret-0123456789";

/// The tests' "now": 2023-11-14T22:13:20Z.
pub const NOW: u64 = 1_700_000_000;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

pub fn key_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}

pub fn key_bytes(name: &str) -> Vec<u8> {
    std::fs::read(key_path(name)).unwrap()
}

/// Claims valid at [`NOW`] for ten minutes.
pub fn claims() -> Claims {
    Claims {
        sub: "alice".into(),
        tenant_id: "acme".into(),
        exp: NOW + 600,
        roles: vec![Role::Subscriber],
        channels: Some(vec!["alerts".into()]),
        iss: None,
        aud: None,
        nbf: None,
        iat: Some(NOW),
    }
}

/// The JSON form of [`claims`], for tests that bend it.
pub fn payload() -> Value {
    serde_json::to_value(claims()).unwrap()
}

pub fn hs256_verifier() -> Verifier {
    Verifier::from_settings(&KeySettings::hs256(SECRET)).unwrap()
}

pub fn settings_with(f: impl FnOnce(&mut KeySettings)) -> KeySettings {
    let mut settings = KeySettings::hs256(SECRET);
    f(&mut settings);
    settings
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(value: &Value) -> String {
    b64(&serde_json::to_vec(value).unwrap())
}

/// A token with exactly this header and payload, signed by `key` with `alg`, whatever the header
/// says.
pub fn craft(header: &Value, payload: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64_json(header), b64_json(payload));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

/// An HS256 token over `payload`, signed with `secret`.
pub fn hs256(payload: &Value, secret: &[u8]) -> String {
    craft(
        &json!({"alg": "HS256", "typ": "JWT"}),
        payload,
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
}
