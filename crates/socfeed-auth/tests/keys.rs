//! Loading keys: what is accepted, and what errors say.

mod common;

use std::io::Write;

use common::*;
use socfeed_auth::{Alg, KeyError, KeySettings, Minter, Verifier};

fn load(settings: KeySettings) -> Result<Verifier, KeyError> {
    Verifier::from_settings(&settings)
}

fn temp_file(contents: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents).unwrap();
    file
}

#[test]
fn no_keys_is_an_error() {
    let err = load(KeySettings::default()).unwrap_err();
    assert!(matches!(err, KeyError::NoKeys), "{err:?}");
    // Issuer and audience alone are not keys.
    let err = load(KeySettings {
        issuer: Some("i".into()),
        audience: Some("a".into()),
        ..KeySettings::default()
    })
    .unwrap_err();
    assert!(matches!(err, KeyError::NoKeys), "{err:?}");
}

#[test]
fn empty_secret_is_an_error() {
    let err = load(KeySettings::hs256("")).unwrap_err();
    assert!(matches!(err, KeyError::EmptySecret), "{err:?}");
}

#[test]
fn unreadable_files_are_named() {
    for settings in [
        KeySettings {
            public_key_pem: Some("/nonexistent/socfeed/key.pem".into()),
            ..KeySettings::default()
        },
        KeySettings {
            jwks_file: Some("/nonexistent/socfeed/key.pem".into()),
            ..KeySettings::hs256(SECRET)
        },
    ] {
        let err = load(settings).unwrap_err();
        assert!(matches!(err, KeyError::Read { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("reading /nonexistent/socfeed/key.pem: "),
            "{err}"
        );
    }
}

#[test]
fn unparsable_pem_files_are_named() {
    let file = temp_file(b"this is not a key\n");
    let err = load(KeySettings {
        public_key_pem: Some(file.path().into()),
        ..KeySettings::default()
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with(&file.path().display().to_string()), "{msg}");
    assert!(msg.contains("not a PEM file"), "{msg}");
}

#[test]
fn a_private_key_is_not_taken_for_a_public_one() {
    let err = load(KeySettings {
        public_key_pem: Some(key_path("rsa_private.pem")),
        ..KeySettings::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("holds a private key"), "{err}");
}

#[test]
fn unsupported_curves_and_weak_rsa_keys_are_refused() {
    for (file, needle) in [
        ("ec384_public.pem", "P-256"),
        ("rsa1024_public.pem", "1024 bits"),
    ] {
        let err = load(KeySettings {
            public_key_pem: Some(key_path(file)),
            ..KeySettings::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains(needle), "{file}: {err}");
        assert!(err.to_string().contains(file), "{file}: {err}");
    }
}

#[test]
fn unparsable_jwks_files_are_named() {
    for (contents, needle) in [
        (&b"{"[..], "not valid JSON"),
        (&b"[1, 2]"[..], "not a JWKS"),
        (&br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#[..], "no usable signature key"),
        (
            &br#"{"keys": [{"kty": "EC", "crv": "P-256", "kid": "bad", "x": "AAAA", "y": "AAAA"}]}"#[..],
            "key \"bad\"",
        ),
    ] {
        let file = temp_file(contents);
        let err = load(KeySettings {
            jwks_file: Some(file.path().into()),
            ..KeySettings::default()
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&file.path().display().to_string()),
            "{msg}"
        );
        assert!(msg.contains(needle), "{msg}");
    }
}

#[test]
fn jwks_with_padded_base64_is_accepted() {
    // Some JWKS writers pad their base64url; the key is the same.
    let jwks: serde_json::Value = serde_json::from_slice(&key_bytes("jwks.json")).unwrap();
    let mut ed = jwks["keys"][3].clone();
    assert_eq!(ed["kid"], "ed-1");
    ed["x"] = format!("{}=", ed["x"].as_str().unwrap()).into();
    let file = temp_file(&serde_json::to_vec(&serde_json::json!({"keys": [ed]})).unwrap());
    let verifier = load(KeySettings {
        jwks_file: Some(file.path().into()),
        ..KeySettings::default()
    })
    .unwrap();
    let token = Minter::from_private_pem_file(key_path("ed25519_private.pem"))
        .unwrap()
        .with_kid("ed-1")
        .mint(&claims())
        .unwrap();
    assert_eq!(verifier.verify_at(&token, now()), Ok(claims()));
}

#[test]
fn verifier_debug_shows_no_secret() {
    let verifier = hs256_verifier();
    let shown = format!("{verifier:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("shared secret"), "{shown}");
}

#[test]
fn minter_detects_the_algorithm_from_the_key() {
    for (file, alg) in [
        ("rsa_private.pem", Alg::Rs256),
        ("rsa_private_pkcs1.pem", Alg::Rs256),
        ("ec_private.pem", Alg::Es256),
        ("ed25519_private.pem", Alg::EdDsa),
    ] {
        let from_file = Minter::from_private_pem_file(key_path(file)).unwrap();
        let from_bytes = Minter::from_private_pem(&key_bytes(file)).unwrap();
        assert_eq!(from_file.algorithm(), alg, "{file}");
        assert_eq!(from_bytes.algorithm(), alg, "{file}");
        let header = jsonwebtoken::decode_header(from_file.mint(&claims()).unwrap()).unwrap();
        assert_eq!(header.alg.to_owned(), alg_jwt(alg), "{file}");
    }
    assert_eq!(Minter::hs256(SECRET).algorithm(), Alg::Hs256);
}

fn alg_jwt(alg: Alg) -> jsonwebtoken::Algorithm {
    alg.as_str().parse().unwrap()
}

#[test]
fn minter_refuses_unusable_keys_with_the_path() {
    for (file, needle) in [
        ("rsa_public.pem", "public key"),
        ("ec_private_sec1.pem", "openssl pkcs8"),
    ] {
        let err = Minter::from_private_pem_file(key_path(file)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(file) && msg.contains(needle), "{msg}");
    }
    let err = Minter::from_private_pem_file("/nonexistent/socfeed/private.pem").unwrap_err();
    assert!(matches!(err, KeyError::Read { .. }), "{err:?}");
    let err = Minter::from_private_pem(b"nope").unwrap_err();
    assert!(err.to_string().contains("not a PEM file"), "{err}");
}

#[test]
fn minted_kid_is_in_the_header() {
    let minter = Minter::from_private_pem_file(key_path("ec_private.pem"))
        .unwrap()
        .with_kid("ec-1");
    assert_eq!(minter.kid(), Some("ec-1"));
    let header = jsonwebtoken::decode_header(minter.mint(&claims()).unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some("ec-1"));
}
