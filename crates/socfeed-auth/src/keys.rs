//! Key settings, and loading keys: the HS256 secret, a public key PEM file, a JWKS file, and
//! private key PEMs for minting. Every key is checked when it is loaded, so a bad key file stops
//! the server at start-up instead of failing every token later.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::Value;

use crate::MAX_LEEWAY;
use crate::error::KeyError;

/// The signature algorithms socfeed accepts. Each key serves exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC-SHA256 with the shared secret.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA keys of 2048 to 4096 bits).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl Alg {
    /// Every accepted algorithm.
    pub const ALL: [Alg; 4] = [Alg::Hs256, Alg::Rs256, Alg::Es256, Alg::EdDsa];

    /// The JOSE name (`HS256`, `RS256`, `ES256`, `EdDSA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name, exactly (JOSE names are case-sensitive; `none` is never accepted).
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Alg::Hs256 => Algorithm::HS256,
            Alg::Rs256 => Algorithm::RS256,
            Alg::Es256 => Algorithm::ES256,
            Alg::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the verifier's keys come from and what it demands of a token. Any combination of the
/// three key sources may be set; at least one must be.
#[derive(Clone)]
pub struct KeySettings {
    /// HS256 shared secret (its UTF-8 bytes are the HMAC key).
    pub secret: Option<String>,
    /// A PEM public key: RSA (`RS256`), EC P-256 (`ES256`) or Ed25519 (`EdDSA`); the type is
    /// detected. SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`).
    pub public_key_pem: Option<PathBuf>,
    /// A JWKS file (`{"keys": [...]}`) of RSA, EC P-256 and Ed25519 public keys.
    pub jwks_file: Option<PathBuf>,
    /// JWKS files bound to one issuer each: their keys verify only tokens whose `iss` is that
    /// issuer, and a `kid` is looked up among that issuer's keys only (keys are known by
    /// (issuer, kid), never by kid alone).
    pub issuer_jwks: Vec<(String, PathBuf)>,
    /// When set, `iss` must be present and equal to it.
    pub issuer: Option<String>,
    /// When set, `aud` must be present and equal it (or be an array containing it).
    pub audience: Option<String>,
    /// Clock leeway for `exp` and `nbf`; at most [`MAX_LEEWAY`] (larger values are clamped).
    pub leeway: Duration,
}

impl KeySettings {
    /// Settings with just an HS256 secret and the default leeway.
    pub fn hs256(secret: impl Into<String>) -> KeySettings {
        KeySettings {
            secret: Some(secret.into()),
            ..KeySettings::default()
        }
    }
}

impl Default for KeySettings {
    /// No keys, no issuer or audience, leeway [`MAX_LEEWAY`].
    fn default() -> KeySettings {
        KeySettings {
            secret: None,
            public_key_pem: None,
            jwks_file: None,
            issuer_jwks: Vec::new(),
            issuer: None,
            audience: None,
            leeway: MAX_LEEWAY,
        }
    }
}

impl fmt::Debug for KeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySettings")
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("public_key_pem", &self.public_key_pem)
            .field("jwks_file", &self.jwks_file)
            .field("issuer_jwks", &self.issuer_jwks)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// A verification key, bound to its one algorithm.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub(crate) alg: Alg,
    /// Only JWKS keys have one.
    pub(crate) kid: Option<String>,
    /// The only issuer whose tokens this key verifies; `None` for keys of any issuer.
    pub(crate) issuer: Option<String>,
    /// Where it came from, for messages (`shared secret`, a path, `path: key "kid"`).
    pub(crate) origin: String,
    pub(crate) key: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

const MIN_RSA_BITS: usize = 2048;
/// The RSA implementation refuses larger moduli when verifying.
const MAX_RSA_BITS: usize = 4096;

/// base64url, with or without padding (JWKS writers differ).
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|error| KeyError::Read {
        path: path.to_path_buf(),
        error,
    })
}

/// The HS256 key.
pub(crate) fn secret_key(secret: &str) -> Result<PublicKey, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::EmptySecret);
    }
    Ok(PublicKey {
        alg: Alg::Hs256,
        kid: None,
        issuer: None,
        origin: "shared secret".into(),
        key: DecodingKey::from_secret(secret.as_bytes()),
    })
}

/// A public key PEM file.
pub(crate) fn public_pem_file(path: &Path) -> Result<PublicKey, KeyError> {
    let pem = read(path)?;
    let origin = path.display().to_string();
    let (alg, key) = public_pem(&pem).map_err(|reason| KeyError::invalid(&origin, reason))?;
    Ok(PublicKey {
        alg,
        kid: None,
        issuer: None,
        origin,
        key,
    })
}

/// A public key in PEM; its algorithm follows from its type.
pub(crate) fn public_pem(pem: &[u8]) -> Result<(Alg, DecodingKey), String> {
    match pem_label(pem)? {
        "PUBLIC KEY" => {
            if let Ok(key) = DecodingKey::from_ed_pem(pem) {
                let x = key.try_get_as_bytes().map_err(|e| e.to_string())?.to_vec();
                ed25519_key(&x)
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                let point = key.try_get_as_bytes().map_err(|e| e.to_string())?.to_vec();
                p256_key(&point)
            } else if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                rsa_key_from_pkcs1(key.try_get_as_bytes().map_err(|e| e.to_string())?)
            } else {
                Err("not an RSA, EC or Ed25519 public key".into())
            }
        }
        "RSA PUBLIC KEY" => {
            let key = DecodingKey::from_rsa_pem(pem).map_err(|e| format!("bad RSA key: {e}"))?;
            rsa_key_from_pkcs1(key.try_get_as_bytes().map_err(|e| e.to_string())?)
        }
        "CERTIFICATE" => Err(
            "certificates are not supported; extract the public key with `openssl x509 -pubkey -noout`"
                .into(),
        ),
        label if label.contains("PRIVATE KEY") => Err(
            "holds a private key; configure the public key (`openssl pkey -pubout`) instead".into(),
        ),
        label => Err(format!("unsupported PEM block {label:?}; expected a PUBLIC KEY")),
    }
}

fn rsa_key_from_pkcs1(der: &[u8]) -> Result<(Alg, DecodingKey), String> {
    let (n, e) = (DEFAULT_PROVIDER
        .key_utils
        .rsa_pub_components_from_public_key)(der)
    .map_err(|e| format!("bad RSA public key: {e}"))?;
    rsa_key(&n, &e)
}

fn rsa_key(n: &[u8], e: &[u8]) -> Result<(Alg, DecodingKey), String> {
    check_rsa_modulus(n)?;
    let e_trimmed = trim_zeros(e);
    let exponent_ok = !e_trimmed.is_empty()
        && e_trimmed.len() <= 4
        && e_trimmed[e_trimmed.len() - 1] & 1 == 1
        && e_trimmed != [1];
    if !exponent_ok {
        return Err("bad RSA public exponent".into());
    }
    Ok((Alg::Rs256, DecodingKey::from_rsa_raw_components(n, e)))
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn check_rsa_modulus(n: &[u8]) -> Result<(), String> {
    let n = trim_zeros(n);
    let bits = match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "RSA key has {bits} bits; at most {MAX_RSA_BITS} are supported"
        ));
    }
    Ok(())
}

/// A P-256 public point (SEC1, uncompressed or compressed).
fn p256_key(point: &[u8]) -> Result<(Alg, DecodingKey), String> {
    let p256_shape = matches!(
        (point.len(), point.first()),
        (65, Some(4)) | (33, Some(2 | 3))
    );
    if !p256_shape {
        return Err("EC key is not on P-256 (only ES256 is supported)".into());
    }
    let key = DecodingKey::from_ec_der(point);
    probe(&key, Alg::Es256)?;
    Ok((Alg::Es256, key))
}

/// An Ed25519 public key (32 bytes).
fn ed25519_key(x: &[u8]) -> Result<(Alg, DecodingKey), String> {
    // Checked here: jsonwebtoken's EdDSA verifier slices the first 32 bytes and would panic on
    // a shorter key.
    if x.len() != 32 {
        return Err(format!(
            "Ed25519 public key has {} bytes, expected 32",
            x.len()
        ));
    }
    let key = DecodingKey::from_ed_der(x);
    probe(&key, Alg::EdDsa)?;
    Ok((Alg::EdDsa, key))
}

/// Builds the verifier for `key` once, which parses the key material (EC, Ed25519).
fn probe(key: &DecodingKey, alg: Alg) -> Result<(), String> {
    jsonwebtoken::crypto::verify("", b"", key, alg.jwt())
        .map(drop)
        .map_err(|e| format!("not a valid {alg} public key ({e})"))
}

/// A JWKS file.
pub(crate) fn jwks_file(path: &Path) -> Result<Vec<PublicKey>, KeyError> {
    let json = read(path)?;
    jwks(&json, &path.display().to_string())
}

/// The signature keys of a JWKS document. Keys for encryption, symmetric (`oct`) keys, other
/// curves and algorithms socfeed does not accept are skipped; a key socfeed would use but cannot
/// (bad material, a weak RSA key, an `alg` that contradicts its type) is an error, as is a
/// document without a single usable key.
pub(crate) fn jwks(json: &[u8], origin: &str) -> Result<Vec<PublicKey>, KeyError> {
    let doc: Value = serde_json::from_slice(json)
        .map_err(|e| KeyError::invalid(origin, format!("not valid JSON: {e}")))?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| KeyError::invalid(origin, "not a JWKS document ({\"keys\": [...]})"))?;
    let mut keys = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let name = match entry.get("kid") {
            None | Some(Value::Null) => format!("{origin}: key #{i}"),
            Some(Value::String(kid)) => format!("{origin}: key {kid:?}"),
            Some(_) => {
                return Err(KeyError::invalid(
                    format!("{origin}: key #{i}"),
                    "kid is not a string",
                ));
            }
        };
        let jwk: Jwk = serde_json::from_value(entry.clone())
            .map_err(|e| KeyError::invalid(&name, format!("not a JWK: {e}")))?;
        if let Some((alg, key)) =
            jwk_key(&jwk).map_err(|reason| KeyError::invalid(&name, reason))?
        {
            keys.push(PublicKey {
                alg,
                kid: jwk.common.key_id.clone(),
                issuer: None,
                origin: name,
                key,
            });
        }
    }
    if keys.is_empty() {
        return Err(KeyError::invalid(
            origin,
            "holds no usable signature key (RSA for RS256, EC P-256 for ES256, Ed25519 for EdDSA)",
        ));
    }
    Ok(keys)
}

/// `Ok(None)`: a key socfeed does not use.
fn jwk_key(jwk: &Jwk) -> Result<Option<(Alg, DecodingKey)>, String> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Ok(None);
    }
    let natural = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Alg::Rs256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Alg::Es256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Alg::EdDsa,
        // Symmetric keys, other curves and unknown key types are never used.
        _ => return Ok(None),
    };
    if let Some(declared) = jwk.common.key_algorithm
        && declared != KeyAlgorithm::from(natural.jwt())
    {
        let ours = Alg::ALL
            .into_iter()
            .any(|a| KeyAlgorithm::from(a.jwt()) == declared);
        if ours {
            return Err(format!(
                "declares alg {declared} but is a key for {natural}"
            ));
        }
        // An algorithm socfeed does not accept (RS384, PS256, RSA-OAEP, ...).
        return Ok(None);
    }
    let b64 = |field: &str, value: &str| {
        B64URL
            .decode(value)
            .map_err(|_| format!("`{field}` is not base64url"))
    };
    let key = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => rsa_key(&b64("n", &p.n)?, &b64("e", &p.e)?)?,
        AlgorithmParameters::EllipticCurve(p) => {
            let (x, y) = (b64("x", &p.x)?, b64("y", &p.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes each".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            p256_key(&point)?
        }
        AlgorithmParameters::OctetKeyPair(p) => ed25519_key(&b64("x", &p.x)?)?,
        _ => return Ok(None),
    };
    Ok(Some(key))
}

/// A private key in PEM, for minting; its algorithm follows from its type.
pub(crate) fn private_pem(pem: &[u8]) -> Result<(Alg, EncodingKey), String> {
    let (alg, key) = match pem_label(pem)? {
        "PRIVATE KEY" => {
            if let Ok(key) = EncodingKey::from_ed_pem(pem) {
                (Alg::EdDsa, key)
            } else if let Ok(key) = EncodingKey::from_ec_pem(pem) {
                (Alg::Es256, key)
            } else if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
                (Alg::Rs256, key)
            } else {
                return Err("not an RSA, EC or Ed25519 private key".into());
            }
        }
        "RSA PRIVATE KEY" => (
            Alg::Rs256,
            EncodingKey::from_rsa_pem(pem).map_err(|e| format!("bad RSA private key: {e}"))?,
        ),
        "EC PRIVATE KEY" => {
            return Err(
                "SEC1 EC keys are not supported; convert with `openssl pkcs8 -topk8 -nocrypt`"
                    .into(),
            );
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err("encrypted private keys are not supported".into());
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            return Err("holds a public key; signing needs the private key".into());
        }
        label => {
            return Err(format!(
                "unsupported PEM block {label:?}; expected a PRIVATE KEY"
            ));
        }
    };
    if alg == Alg::Rs256 {
        let (n, _) = (DEFAULT_PROVIDER
            .key_utils
            .rsa_pub_components_from_private_key)(key.as_bytes())
        .map_err(|e| format!("bad RSA private key: {e}"))?;
        check_rsa_modulus(&n)?;
    }
    // Signing once parses the key material and catches the wrong curve.
    jsonwebtoken::crypto::sign(b"socfeed key check", &key, alg.jwt()).map_err(|e| match alg {
        Alg::Es256 => format!("EC key is not on P-256 (only ES256 is supported): {e}"),
        _ => format!("not a usable {alg} private key: {e}"),
    })?;
    Ok((alg, key))
}

/// The label of the file's only PEM block (`PUBLIC KEY`, `RSA PRIVATE KEY`, ...).
fn pem_label(pem: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file (not text)".to_string())?;
    let mut begins = text.match_indices("-----BEGIN ");
    let Some((at, marker)) = begins.next() else {
        return Err("not a PEM file (no -----BEGIN line)".into());
    };
    if begins.next().is_some() {
        return Err("holds more than one PEM block; expected exactly one key".into());
    }
    let rest = &text[at + marker.len()..];
    let end = rest
        .find("-----")
        .ok_or_else(|| "not a PEM file (bad -----BEGIN line)".to_string())?;
    Ok(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn alg_names_are_exact() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_name(alg.as_str()), Some(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
        for bad in [
            "none", "None", "NONE", "hs256", "HS384", "RS512", "PS256", "",
        ] {
            assert_eq!(Alg::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let settings = KeySettings::hs256("hunter2-very-secret");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        let key = secret_key("hunter2-very-secret").unwrap();
        assert!(!format!("{key:?}").contains("hunter2"));
    }

    #[test]
    fn default_settings_have_the_maximum_leeway_and_no_keys() {
        let s = KeySettings::default();
        assert_eq!(s.leeway, MAX_LEEWAY);
        assert!(s.secret.is_none() && s.public_key_pem.is_none() && s.jwks_file.is_none());
    }

    #[test]
    fn public_key_types_are_detected() {
        assert_eq!(
            public_pem(&fixture("rsa_public.pem")).unwrap().0,
            Alg::Rs256
        );
        assert_eq!(
            public_pem(&fixture("rsa_public_pkcs1.pem")).unwrap().0,
            Alg::Rs256
        );
        assert_eq!(public_pem(&fixture("ec_public.pem")).unwrap().0, Alg::Es256);
        assert_eq!(
            public_pem(&fixture("ed25519_public.pem")).unwrap().0,
            Alg::EdDsa
        );
    }

    #[test]
    fn unusable_public_keys_are_refused_with_a_reason() {
        let cases = [
            ("ec384_public.pem", "P-256"),
            ("rsa1024_public.pem", "at least 2048"),
            ("rsa_private.pem", "private key"),
            ("ec_private_sec1.pem", "private key"),
        ];
        for (file, needle) in cases {
            let err = public_pem(&fixture(file)).unwrap_err();
            assert!(err.contains(needle), "{file}: {err}");
        }
        let err = public_pem(b"hello").unwrap_err();
        assert!(err.contains("not a PEM file"), "{err}");
        let mut two = fixture("rsa_public.pem");
        two.extend(fixture("ec_public.pem"));
        assert!(public_pem(&two).unwrap_err().contains("more than one"));
        let garbage = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(public_pem(garbage).is_err());
    }

    #[test]
    fn private_key_types_are_detected() {
        assert_eq!(
            private_pem(&fixture("rsa_private.pem")).unwrap().0,
            Alg::Rs256
        );
        assert_eq!(
            private_pem(&fixture("rsa_private_pkcs1.pem")).unwrap().0,
            Alg::Rs256
        );
        assert_eq!(
            private_pem(&fixture("ec_private.pem")).unwrap().0,
            Alg::Es256
        );
        assert_eq!(
            private_pem(&fixture("ed25519_private.pem")).unwrap().0,
            Alg::EdDsa
        );
    }

    #[test]
    fn unusable_private_keys_are_refused_with_a_reason() {
        let cases = [
            ("ec_private_sec1.pem", "openssl pkcs8"),
            ("rsa_public.pem", "public key"),
            ("ed25519_public.pem", "public key"),
        ];
        for (file, needle) in cases {
            let err = private_pem(&fixture(file)).unwrap_err();
            assert!(err.contains(needle), "{file}: {err}");
        }
    }

    #[test]
    fn jwks_skips_keys_it_does_not_use_and_reads_the_rest() {
        let keys = jwks(&fixture("jwks.json"), "jwks.json").unwrap();
        let got: Vec<(Option<&str>, Alg)> =
            keys.iter().map(|k| (k.kid.as_deref(), k.alg)).collect();
        assert_eq!(
            got,
            [
                (Some("rsa-1"), Alg::Rs256),
                (Some("rsa-2"), Alg::Rs256),
                (Some("ec-1"), Alg::Es256),
                (Some("ed-1"), Alg::EdDsa),
            ]
        );
    }

    #[test]
    fn jwks_errors_name_the_file_and_key() {
        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"short","x":"AAAA"}]}"#;
        let err = jwks(doc, "/etc/jwks.json").unwrap_err().to_string();
        assert!(err.starts_with("/etc/jwks.json: key \"short\": "), "{err}");
        assert!(err.contains("32"), "{err}");

        let doc = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k","alg":"RS256","x":"AAAA"}]}"#;
        let err = jwks(doc, "j").unwrap_err().to_string();
        assert!(err.contains("declares alg RS256"), "{err}");

        for (doc, needle) in [
            (&b"nope"[..], "not valid JSON"),
            (&b"{\"k\":[]}"[..], "not a JWKS"),
            (&b"{\"keys\":[]}"[..], "no usable signature key"),
            (
                &br#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"}]}"#[..],
                "no usable signature key",
            ),
            (
                &br#"{"keys":[{"kty":"RSA","kid":7,"n":"AQAB","e":"AQAB"}]}"#[..],
                "kid",
            ),
        ] {
            let err = jwks(doc, "j").unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn empty_secret_is_refused() {
        assert!(matches!(secret_key(""), Err(KeyError::EmptySecret)));
    }
}
