//! Verifying tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use socfeed_proto::Claims;

use crate::error::{AuthError, KeyError, shown};
use crate::keys::{self, Alg, KeySettings, PublicKey};
use crate::{MAX_LEEWAY, MAX_TOKEN_LEN};

/// The latest `exp` / `nbf` accepted: 9999-12-31T23:59:59Z. Later values are nonsense and would
/// overflow time arithmetic downstream.
const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// Checks tokens against the configured keys and rules. Cheap to clone; build it once.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<PublicKey>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

impl Verifier {
    /// Loads every configured key source (several may be set at once).
    ///
    /// Errors: [`KeyError::NoKeys`] when none is configured; a file that cannot be read or holds
    /// an unusable key (the message names the path); an empty secret.
    pub fn from_settings(settings: &KeySettings) -> Result<Verifier, KeyError> {
        let mut keys = Vec::new();
        if let Some(secret) = &settings.secret {
            keys.push(keys::secret_key(secret)?);
        }
        if let Some(path) = &settings.public_key_pem {
            keys.push(keys::public_pem_file(path)?);
        }
        if let Some(path) = &settings.jwks_file {
            keys.extend(keys::jwks_file(path)?);
        }
        for (issuer, path) in &settings.issuer_jwks {
            keys.extend(keys::jwks_file(path)?.into_iter().map(|mut k| {
                k.issuer = Some(issuer.clone());
                k
            }));
        }
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        Ok(Verifier {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway.min(MAX_LEEWAY),
        })
    }

    /// The algorithms some configured key accepts, each once.
    pub fn algorithms(&self) -> Vec<Alg> {
        Alg::ALL
            .into_iter()
            .filter(|alg| self.keys.iter().any(|k| k.alg == *alg))
            .collect()
    }

    /// The clock leeway in force (the setting, clamped to [`MAX_LEEWAY`]).
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// Verifies `token` against the current time.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify_at(token, SystemTime::now())
    }

    /// Verifies `token` as of `now`.
    ///
    /// In order: size (at most [`MAX_TOKEN_LEN`] bytes); shape (three base64url parts, a JSON
    /// header with a string `alg`, no `crit`); algorithm (one socfeed accepts, never `none`);
    /// key choice (with a `kid`, only the JWKS keys with that id; without, every key of that
    /// algorithm); signature; claim shapes (`sub`, `tenant_id`, `exp` required, types as in
    /// [`Claims`]); `exp` and `nbf` with the leeway; then `iss` and `aud` when configured.
    pub fn verify_at(&self, token: &str, now: SystemTime) -> Result<Claims, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::TooLarge);
        }
        let Token {
            header,
            message,
            payload,
            signature,
        } = Token::split(token)?;
        let alg = Alg::from_name(&header.alg)
            .ok_or_else(|| AuthError::UnsupportedAlgorithm(shown(&header.alg)))?;
        // Issuer-bound keys are chosen by the token's (not yet verified) `iss`; the signature
        // then proves it, so such a key never verifies another issuer's token.
        let claimed_iss = unverified_issuer(payload);
        let usable = |k: &&PublicKey| k.issuer.is_none() || k.issuer == claimed_iss;
        let candidates: Vec<&PublicKey> = match &header.kid {
            Some(kid) => {
                let named: Vec<&PublicKey> = self
                    .keys
                    .iter()
                    .filter(usable)
                    .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                    .collect();
                if named.is_empty() {
                    return Err(AuthError::UnknownKey(shown(kid)));
                }
                named.into_iter().filter(|k| k.alg == alg).collect()
            }
            None => self
                .keys
                .iter()
                .filter(usable)
                .filter(|k| k.alg == alg)
                .collect(),
        };
        if candidates.is_empty() {
            return Err(AuthError::UnsupportedAlgorithm(shown(&header.alg)));
        }
        let Some(key) = candidates
            .into_iter()
            .find(|key| signature_matches(key, message, signature))
        else {
            return Err(AuthError::BadSignature);
        };
        // Only now, with the signature good, is the payload looked at.
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| AuthError::Malformed("payload is not base64url"))?;
        let payload: Value = serde_json::from_slice(&payload)
            .map_err(|_| AuthError::Malformed("payload is not JSON"))?;
        let claims = parse_claims(payload)?;
        self.check_times(&claims, now)?;
        match &key.issuer {
            Some(bound) if claims.iss.as_ref() != Some(bound) => {
                return Err(AuthError::WrongIssuer);
            }
            Some(_) => {}
            None => self.check_issuer(&claims)?,
        }
        self.check_audience(&claims)?;
        Ok(claims)
    }

    fn check_times(&self, claims: &Claims, now: SystemTime) -> Result<(), AuthError> {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Valid while now < exp + leeway; exp itself is already too late (RFC 7519 4.1.4).
        if now >= Duration::from_secs(claims.exp) + self.leeway {
            return Err(AuthError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now + self.leeway < Duration::from_secs(nbf)
        {
            return Err(AuthError::NotYetValid);
        }
        Ok(())
    }

    fn check_issuer(&self, claims: &Claims) -> Result<(), AuthError> {
        match &self.issuer {
            Some(want) if claims.iss.as_ref() != Some(want) => Err(AuthError::WrongIssuer),
            _ => Ok(()),
        }
    }

    fn check_audience(&self, claims: &Claims) -> Result<(), AuthError> {
        let Some(want) = &self.audience else {
            return Ok(());
        };
        let ok = match &claims.aud {
            Some(Value::String(aud)) => aud == want,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(want.as_str())),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(AuthError::WrongAudience)
        }
    }
}

/// The `iss` of an encoded payload, read without trusting it (only to choose keys).
fn unverified_issuer(payload: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

/// A compact JWS split into its parts, with the header fields socfeed reads. Nothing here
/// touches a key.
#[derive(Debug)]
struct Token<'a> {
    header: Header,
    /// `header.payload`, the signed bytes.
    message: &'a str,
    payload: &'a str,
    signature: &'a str,
}

#[derive(Debug)]
struct Header {
    alg: String,
    kid: Option<String>,
}

impl<'a> Token<'a> {
    fn split(token: &'a str) -> Result<Token<'a>, AuthError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err(AuthError::Malformed("expected three dot-separated parts"));
        };
        let base64url = |part: &str| {
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !parts.iter().all(|p| base64url(p)) {
            return Err(AuthError::Malformed("not base64url"));
        }
        let header = Header::parse(header)?;
        Ok(Token {
            header,
            message: &token[..token.len() - signature.len() - 1],
            payload,
            signature,
        })
    }
}

impl Header {
    fn parse(encoded: &str) -> Result<Header, AuthError> {
        let raw = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| AuthError::Malformed("header is not base64url"))?;
        let header: Map<String, Value> = serde_json::from_slice(&raw)
            .map_err(|_| AuthError::Malformed("header is not a JSON object"))?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.clone(),
            _ => return Err(AuthError::Malformed("header has no string alg")),
        };
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(AuthError::Malformed("header kid is not a string")),
        };
        // No header extension is understood, so a token that marks any as critical is refused
        // (RFC 7515 4.1.11).
        if header.contains_key("crit") {
            return Err(AuthError::Malformed(
                "critical header extensions are not supported",
            ));
        }
        Ok(Header { alg, kid })
    }
}

/// Whether `signature` is `key`'s signature over `message`, with the key's own algorithm (never
/// the one the header names: they are equal here, and the key decides).
fn signature_matches(key: &PublicKey, message: &str, signature: &str) -> bool {
    // Errors (a signature that is not valid base64url, key trouble) are mismatches too.
    jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.key, key.alg.jwt())
        .unwrap_or(false)
}

/// The claims of a correctly signed token, with a precise reason when they do not fit.
fn parse_claims(payload: Value) -> Result<Claims, AuthError> {
    let claims: Claims = match serde_json::from_value(payload.clone()) {
        Ok(claims) => claims,
        Err(_) => return Err(AuthError::InvalidClaims(describe_claims_error(&payload))),
    };
    for (name, value) in [("sub", &claims.sub), ("tenant_id", &claims.tenant_id)] {
        if value.is_empty() {
            return Err(AuthError::InvalidClaims(format!("claim `{name}` is empty")));
        }
    }
    if claims.exp > MAX_TIMESTAMP {
        return Err(AuthError::InvalidClaims(
            "claim `exp` is out of range".into(),
        ));
    }
    Ok(claims)
}

/// The JSON type each claim of [`Claims`] must have (for messages; serde decides).
const CLAIM_SHAPES: [(&str, Shape); 8] = [
    ("sub", Shape::String),
    ("tenant_id", Shape::String),
    ("exp", Shape::Number),
    ("nbf", Shape::OptNumber),
    ("iat", Shape::OptNumber),
    ("roles", Shape::Strings),
    ("channels", Shape::OptStrings),
    ("iss", Shape::OptString),
];

#[derive(Clone, Copy)]
enum Shape {
    String,
    OptString,
    /// A non-negative integer.
    Number,
    OptNumber,
    /// An array of strings.
    Strings,
    OptStrings,
}

impl Shape {
    fn fits(self, value: &Value) -> bool {
        let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        match self {
            Shape::String => value.is_string(),
            Shape::OptString => value.is_null() || value.is_string(),
            Shape::Number => value.is_u64(),
            Shape::OptNumber => value.is_null() || value.is_u64(),
            Shape::Strings => strings(value),
            Shape::OptStrings => value.is_null() || strings(value),
        }
    }
}

/// Why `payload` is not [`Claims`], without quoting it.
fn describe_claims_error(payload: &Value) -> String {
    let Some(object) = payload.as_object() else {
        return "the payload is not a JSON object".into();
    };
    for name in ["sub", "tenant_id", "exp"] {
        if object.get(name).is_none_or(Value::is_null) {
            return format!("missing claim `{name}`");
        }
    }
    for (name, shape) in CLAIM_SHAPES {
        if let Some(value) = object.get(name)
            && !shape.fits(value)
        {
            return format!("claim `{name}` has the wrong type");
        }
    }
    "the claims do not have the expected shape".into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn part(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    #[test]
    fn header_parse_reads_alg_and_kid() {
        let t = format!(
            "{}.e30.sig",
            part(&json!({"alg":"RS256","kid":"k1","typ":"JWT"}))
        );
        let h = Token::split(&t).unwrap().header;
        assert_eq!((h.alg.as_str(), h.kid.as_deref()), ("RS256", Some("k1")));
    }

    #[test]
    fn header_parse_refuses_bad_shapes() {
        let cases = [
            "a.b".to_string(),
            "a.b.c.d".to_string(),
            "a b.c.d".to_string(),
            "e30=.e30.x".to_string(),
            format!("{}.e30.x", URL_SAFE_NO_PAD.encode("[1]")),
            format!("{}.e30.x", part(&json!({"typ":"JWT"}))),
            format!("{}.e30.x", part(&json!({"alg":256}))),
            format!("{}.e30.x", part(&json!({"alg":"HS256","kid":1}))),
            format!(
                "{}.e30.x",
                part(&json!({"alg":"HS256","crit":["b64"],"b64":false}))
            ),
        ];
        for t in cases {
            assert!(
                matches!(Token::split(&t), Err(AuthError::Malformed(_))),
                "{t}"
            );
        }
    }

    #[test]
    fn claims_errors_name_the_claim() {
        let cases = [
            (json!([1]), "not a JSON object"),
            (json!({"tenant_id":"t","exp":1}), "missing claim `sub`"),
            (json!({"sub":"u","exp":1}), "missing claim `tenant_id`"),
            (json!({"sub":"u","tenant_id":"t"}), "missing claim `exp`"),
            (
                json!({"sub":"u","tenant_id":"t","exp":null}),
                "missing claim `exp`",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":"soon"}),
                "`exp` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":1.5}),
                "`exp` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":-1}),
                "`exp` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":7,"exp":1}),
                "`tenant_id` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":1,"roles":"admin"}),
                "`roles` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":1,"channels":"alerts"}),
                "`channels` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":1,"nbf":"x"}),
                "`nbf` has the wrong type",
            ),
            (
                json!({"sub":"u","tenant_id":"t","exp":1,"iss":5}),
                "`iss` has the wrong type",
            ),
        ];
        for (payload, needle) in cases {
            let err = parse_claims(payload.clone()).unwrap_err();
            let AuthError::InvalidClaims(msg) = &err else {
                panic!("{payload}: {err:?}")
            };
            assert!(msg.contains(needle), "{payload}: {msg}");
        }
    }

    #[test]
    fn claims_must_be_meaningful() {
        for payload in [
            json!({"sub":"","tenant_id":"t","exp":1}),
            json!({"sub":"u","tenant_id":"","exp":1}),
            json!({"sub":"u","tenant_id":"t","exp":u64::MAX}),
        ] {
            assert!(
                matches!(
                    parse_claims(payload.clone()),
                    Err(AuthError::InvalidClaims(_))
                ),
                "{payload}"
            );
        }
        assert!(parse_claims(json!({"sub":"u","tenant_id":"t","exp":MAX_TIMESTAMP})).is_ok());
    }

    #[test]
    fn verifier_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Verifier>();
        shareable::<crate::Minter>();
    }

    #[test]
    fn leeway_is_clamped() {
        let settings = KeySettings {
            leeway: Duration::from_secs(600),
            ..KeySettings::hs256("s3cret")
        };
        let v = Verifier::from_settings(&settings).unwrap();
        assert_eq!(v.leeway(), MAX_LEEWAY);
    }
}
