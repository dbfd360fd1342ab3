//! Every verification rule, one test each.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;
use socfeed_auth::{
    Alg, AuthError, KeySettings, MAX_TOKEN_LEN, Minter, Role, Verifier, claims as fresh_claims,
};

#[test]
fn valid_hs256_token_is_accepted() {
    let token = Minter::hs256(SECRET).mint(&claims()).unwrap();
    assert_eq!(hs256_verifier().verify_at(&token, now()), Ok(claims()));
}

#[test]
fn verify_uses_the_real_clock() {
    let c = fresh_claims(
        "acme",
        "bob",
        &[Role::Publisher],
        None,
        Duration::from_secs(60),
    );
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(hs256_verifier().verify(&token), Ok(c));
    let mut old = fresh_claims("acme", "bob", &[], None, Duration::ZERO);
    old.exp -= 3600;
    let token = Minter::hs256(SECRET).mint(&old).unwrap();
    assert_eq!(hs256_verifier().verify(&token), Err(AuthError::Expired));
}

#[test]
fn expired_beyond_leeway_is_rejected() {
    let mut c = claims();
    c.exp = NOW - 10;
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::Expired)
    );
}

#[test]
fn expired_within_leeway_is_accepted() {
    let mut c = claims();
    c.exp = NOW - 3;
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(hs256_verifier().verify_at(&token, now()), Ok(c));
}

#[test]
fn without_leeway_exp_itself_is_too_late() {
    let verifier = Verifier::from_settings(&settings_with(|s| s.leeway = Duration::ZERO)).unwrap();
    let mut c = claims();
    c.exp = NOW;
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(verifier.verify_at(&token, now()), Err(AuthError::Expired));
    let just_before = now() - Duration::from_millis(1);
    assert!(verifier.verify_at(&token, just_before).is_ok());
}

#[test]
fn leeway_setting_is_clamped_to_five_seconds() {
    let verifier =
        Verifier::from_settings(&settings_with(|s| s.leeway = Duration::from_secs(3600))).unwrap();
    let mut c = claims();
    c.exp = NOW - 6;
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(verifier.verify_at(&token, now()), Err(AuthError::Expired));
}

#[test]
fn nbf_in_the_future_is_rejected() {
    let mut c = claims();
    c.nbf = Some(NOW + 60);
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::NotYetValid)
    );
    // Once nbf has come, the same token is good.
    let later = now() + Duration::from_secs(60);
    assert!(hs256_verifier().verify_at(&token, later).is_ok());
}

#[test]
fn nbf_within_leeway_is_accepted() {
    let mut c = claims();
    c.nbf = Some(NOW + 3);
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert!(hs256_verifier().verify_at(&token, now()).is_ok());
}

#[test]
fn bad_signature_is_rejected() {
    let token = Minter::hs256(SECRET).mint(&claims()).unwrap();
    let (message, signature) = token.rsplit_once('.').unwrap();

    // A changed payload under the original signature.
    let mut forged = payload();
    forged["tenant_id"] = json!("other-tenant");
    let header = message.split('.').next().unwrap();
    let tampered = format!("{header}.{}.{signature}", b64_json(&forged));
    assert_eq!(
        hs256_verifier().verify_at(&tampered, now()),
        Err(AuthError::BadSignature)
    );

    // A changed signature.
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{message}.{flipped}{}", &signature[1..]);
    assert_eq!(
        hs256_verifier().verify_at(&tampered, now()),
        Err(AuthError::BadSignature)
    );

    // No signature at all.
    assert_eq!(
        hs256_verifier().verify_at(&format!("{message}."), now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn wrong_secret_is_rejected() {
    let token = Minter::hs256("some-other-secret-0123456789abcdef")
        .mint(&claims())
        .unwrap();
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn alg_none_is_rejected() {
    let body = b64_json(&payload());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64_json(&json!({"alg": alg, "typ": "JWT"}));
        for token in [
            format!("{header}.{body}."),
            format!("{header}.{body}.c2lnbmF0dXJl"),
        ] {
            let err = hs256_verifier().verify_at(&token, now()).unwrap_err();
            assert!(
                matches!(err, AuthError::UnsupportedAlgorithm(_)),
                "{alg}: {err:?}"
            );
            assert!(err.to_string().contains(alg), "{err}");
        }
    }
}

#[test]
fn other_algorithms_are_rejected() {
    let body = b64_json(&payload());
    for alg in ["HS384", "HS512", "RS512", "PS256", "ES384", "hs256", ""] {
        let header = b64_json(&json!({"alg": alg}));
        let token = format!("{header}.{body}.c2ln");
        assert!(
            matches!(
                hs256_verifier().verify_at(&token, now()),
                Err(AuthError::UnsupportedAlgorithm(_))
            ),
            "{alg}"
        );
    }
}

/// The classic attack: sign HS256 with the server's RSA *public* key as the HMAC secret, hoping
/// the verifier feeds its RSA key to HMAC.
#[test]
fn algorithm_confusion_is_rejected() {
    let rsa_public_pem = key_bytes("rsa_public.pem");
    let token = hs256(&payload(), &rsa_public_pem);

    // Only the RSA public key configured: no key accepts HS256 at all.
    let rsa_only = Verifier::from_settings(&KeySettings {
        public_key_pem: Some(key_path("rsa_public.pem")),
        ..KeySettings::default()
    })
    .unwrap();
    assert_eq!(
        rsa_only.verify_at(&token, now()),
        Err(AuthError::UnsupportedAlgorithm("\"HS256\"".into()))
    );

    // Secret and RSA key both configured: HS256 is checked with the secret only.
    let both = Verifier::from_settings(&settings_with(|s| {
        s.public_key_pem = Some(key_path("rsa_public.pem"));
    }))
    .unwrap();
    assert_eq!(both.verify_at(&token, now()), Err(AuthError::BadSignature));

    // The same with the PKCS#1 form of the key and the DER bytes inside it.
    let pkcs1 = key_bytes("rsa_public_pkcs1.pem");
    assert_eq!(
        both.verify_at(&hs256(&payload(), &pkcs1), now()),
        Err(AuthError::BadSignature)
    );

    // Through a JWKS: naming an RSA key's kid does not make it an HMAC key.
    let jwks = Verifier::from_settings(&KeySettings {
        jwks_file: Some(key_path("jwks.json")),
        ..KeySettings::default()
    })
    .unwrap();
    let with_kid = craft(
        &json!({"alg": "HS256", "kid": "rsa-1"}),
        &payload(),
        &EncodingKey::from_secret(&rsa_public_pem),
        Algorithm::HS256,
    );
    assert!(matches!(
        jwks.verify_at(&with_kid, now()),
        Err(AuthError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn a_key_of_another_type_never_checks_a_token() {
    // ES256 and EdDSA tokens against an RSA-only verifier.
    let rsa_only = Verifier::from_settings(&KeySettings {
        public_key_pem: Some(key_path("rsa_public.pem")),
        ..KeySettings::default()
    })
    .unwrap();
    for private in ["ec_private.pem", "ed25519_private.pem"] {
        let token = Minter::from_private_pem_file(key_path(private))
            .unwrap()
            .mint(&claims())
            .unwrap();
        assert!(
            matches!(
                rsa_only.verify_at(&token, now()),
                Err(AuthError::UnsupportedAlgorithm(_))
            ),
            "{private}"
        );
    }
    // An RS256 header over an HMAC signature made with the secret.
    let both = Verifier::from_settings(&settings_with(|s| {
        s.public_key_pem = Some(key_path("rsa_public.pem"));
    }))
    .unwrap();
    let token = craft(
        &json!({"alg": "RS256"}),
        &payload(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    );
    assert_eq!(both.verify_at(&token, now()), Err(AuthError::BadSignature));
}

fn round_trip(private: &str, public: &str, alg: Alg) {
    let minter = Minter::from_private_pem_file(key_path(private)).unwrap();
    assert_eq!(minter.algorithm(), alg);
    let token = minter.mint(&claims()).unwrap();
    let verifier = Verifier::from_settings(&KeySettings {
        public_key_pem: Some(key_path(public)),
        ..KeySettings::default()
    })
    .unwrap();
    assert_eq!(verifier.algorithms(), [alg]);
    assert_eq!(verifier.verify_at(&token, now()), Ok(claims()));
    // And a token from another key of the same type is refused.
    let mut forged = token.clone();
    forged.truncate(token.rfind('.').unwrap() + 1);
    forged.push_str(&b64(&[7u8; 64]));
    assert_eq!(
        verifier.verify_at(&forged, now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn rs256_round_trip() {
    round_trip("rsa_private.pem", "rsa_public.pem", Alg::Rs256);
    round_trip("rsa_private_pkcs1.pem", "rsa_public_pkcs1.pem", Alg::Rs256);
}

#[test]
fn es256_round_trip() {
    round_trip("ec_private.pem", "ec_public.pem", Alg::Es256);
}

#[test]
fn eddsa_round_trip() {
    round_trip("ed25519_private.pem", "ed25519_public.pem", Alg::EdDsa);
}

#[test]
fn rs256_token_from_another_rsa_key_is_rejected() {
    let token = Minter::from_private_pem_file(key_path("rsa2_private.pem"))
        .unwrap()
        .mint(&claims())
        .unwrap();
    let verifier = Verifier::from_settings(&KeySettings {
        public_key_pem: Some(key_path("rsa_public.pem")),
        ..KeySettings::default()
    })
    .unwrap();
    assert_eq!(
        verifier.verify_at(&token, now()),
        Err(AuthError::BadSignature)
    );
}

fn jwks_verifier() -> Verifier {
    Verifier::from_settings(&KeySettings {
        jwks_file: Some(key_path("jwks.json")),
        ..KeySettings::default()
    })
    .unwrap()
}

fn mint_with(private: &str, kid: Option<&str>) -> String {
    let minter = Minter::from_private_pem_file(key_path(private)).unwrap();
    let minter = match kid {
        Some(kid) => minter.with_kid(kid),
        None => minter,
    };
    minter.mint(&claims()).unwrap()
}

#[test]
fn jwks_picks_the_key_by_kid() {
    let verifier = jwks_verifier();
    assert_eq!(verifier.algorithms(), [Alg::Rs256, Alg::Es256, Alg::EdDsa]);
    for (private, kid) in [
        ("rsa_private.pem", "rsa-1"),
        ("rsa2_private.pem", "rsa-2"),
        ("ec_private.pem", "ec-1"),
        ("ed25519_private.pem", "ed-1"),
    ] {
        let token = mint_with(private, Some(kid));
        assert_eq!(verifier.verify_at(&token, now()), Ok(claims()), "{kid}");
    }
}

#[test]
fn jwks_kid_of_another_key_is_rejected() {
    // Signed by rsa-2 but claiming rsa-1: only rsa-1 is tried.
    let token = mint_with("rsa2_private.pem", Some("rsa-1"));
    assert_eq!(
        jwks_verifier().verify_at(&token, now()),
        Err(AuthError::BadSignature)
    );
    // A kid whose key has another algorithm.
    let token = mint_with("ed25519_private.pem", Some("rsa-1"));
    assert!(matches!(
        jwks_verifier().verify_at(&token, now()),
        Err(AuthError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn unknown_kid_is_rejected() {
    let token = mint_with("rsa_private.pem", Some("rsa-9"));
    assert_eq!(
        jwks_verifier().verify_at(&token, now()),
        Err(AuthError::UnknownKey("\"rsa-9\"".into()))
    );
    // A key skipped as an encryption key is unknown too.
    let token = mint_with("rsa2_private.pem", Some("enc-1"));
    assert!(matches!(
        jwks_verifier().verify_at(&token, now()),
        Err(AuthError::UnknownKey(_))
    ));
    // A kid with no JWKS configured at all.
    let token = Minter::hs256(SECRET)
        .with_kid("k1")
        .mint(&claims())
        .unwrap();
    assert!(matches!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::UnknownKey(_))
    ));
}

#[test]
fn jwks_token_without_kid_tries_the_keys_of_its_algorithm() {
    let token = mint_with("rsa2_private.pem", None);
    assert_eq!(jwks_verifier().verify_at(&token, now()), Ok(claims()));
}

#[test]
fn several_key_sources_at_once() {
    let verifier = Verifier::from_settings(&KeySettings {
        secret: Some(SECRET.into()),
        public_key_pem: Some(key_path("ec_public.pem")),
        jwks_file: Some(key_path("jwks.json")),
        ..KeySettings::default()
    })
    .unwrap();
    assert_eq!(verifier.algorithms(), Alg::ALL);
    let tokens = [
        Minter::hs256(SECRET).mint(&claims()).unwrap(),
        mint_with("ec_private.pem", None),
        mint_with("rsa_private.pem", Some("rsa-1")),
        mint_with("ed25519_private.pem", None),
    ];
    for token in tokens {
        assert_eq!(verifier.verify_at(&token, now()), Ok(claims()));
    }
}

#[test]
fn wrong_issuer_is_rejected_when_configured() {
    let verifier = Verifier::from_settings(&settings_with(|s| {
        s.issuer = Some("https://idp.example".into())
    }))
    .unwrap();
    let mut c = claims();
    c.iss = Some("https://evil.example".into());
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(
        verifier.verify_at(&token, now()),
        Err(AuthError::WrongIssuer)
    );
    // Missing counts as wrong.
    let token = Minter::hs256(SECRET).mint(&claims()).unwrap();
    assert_eq!(
        verifier.verify_at(&token, now()),
        Err(AuthError::WrongIssuer)
    );
    c.iss = Some("https://idp.example".into());
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(verifier.verify_at(&token, now()), Ok(c));
}

#[test]
fn any_issuer_is_accepted_when_not_configured() {
    let mut c = claims();
    c.iss = Some("https://anyone.example".into());
    let token = Minter::hs256(SECRET).mint(&c).unwrap();
    assert_eq!(hs256_verifier().verify_at(&token, now()), Ok(c));
}

#[test]
fn wrong_audience_is_rejected_when_configured() {
    let verifier =
        Verifier::from_settings(&settings_with(|s| s.audience = Some("socfeed".into()))).unwrap();
    for aud in [
        json!("other"),
        json!(["a", "b"]),
        json!(7),
        json!(["socfeedx"]),
    ] {
        let mut c = claims();
        c.aud = Some(aud.clone());
        let token = Minter::hs256(SECRET).mint(&c).unwrap();
        assert_eq!(
            verifier.verify_at(&token, now()),
            Err(AuthError::WrongAudience),
            "{aud}"
        );
    }
    let token = Minter::hs256(SECRET).mint(&claims()).unwrap();
    assert_eq!(
        verifier.verify_at(&token, now()),
        Err(AuthError::WrongAudience)
    );
    for aud in [json!("socfeed"), json!(["other", "socfeed"])] {
        let mut c = claims();
        c.aud = Some(aud.clone());
        let token = Minter::hs256(SECRET).mint(&c).unwrap();
        assert_eq!(verifier.verify_at(&token, now()), Ok(c), "{aud}");
    }
}

#[test]
fn any_audience_is_accepted_when_not_configured() {
    for aud in [json!("whatever"), json!(["a", "b"])] {
        let mut c = claims();
        c.aud = Some(aud);
        let token = Minter::hs256(SECRET).mint(&c).unwrap();
        assert_eq!(hs256_verifier().verify_at(&token, now()), Ok(c));
    }
}

fn claims_error(payload: &serde_json::Value) -> String {
    let token = hs256(payload, SECRET.as_bytes());
    match hs256_verifier().verify_at(&token, now()) {
        Err(AuthError::InvalidClaims(msg)) => msg,
        other => panic!("{payload}: {other:?}"),
    }
}

#[test]
fn missing_tenant_id_is_rejected() {
    let mut p = payload();
    p.as_object_mut().unwrap().remove("tenant_id");
    assert_eq!(claims_error(&p), "missing claim `tenant_id`");
}

#[test]
fn missing_sub_is_rejected() {
    let mut p = payload();
    p.as_object_mut().unwrap().remove("sub");
    assert_eq!(claims_error(&p), "missing claim `sub`");
}

#[test]
fn missing_exp_is_rejected() {
    let mut p = payload();
    p.as_object_mut().unwrap().remove("exp");
    assert_eq!(claims_error(&p), "missing claim `exp`");
}

#[test]
fn wrong_claim_types_are_rejected() {
    for (claim, value) in [
        ("exp", json!("soon")),
        ("exp", json!(1_700_000_600.5)),
        ("roles", json!("admin")),
        ("roles", json!({"admin": true})),
        ("tenant_id", json!(42)),
        ("sub", json!(["alice"])),
        ("channels", json!("alerts")),
        ("nbf", json!("now")),
    ] {
        let mut p = payload();
        p[claim] = value.clone();
        assert_eq!(
            claims_error(&p),
            format!("claim `{claim}` has the wrong type"),
            "{claim}: {value}"
        );
    }
    assert_eq!(
        claims_error(&json!("just a string")),
        "the payload is not a JSON object"
    );
}

#[test]
fn claim_errors_never_quote_the_token() {
    let mut p = payload();
    p["exp"] = json!("a-distinctive-value-0123456789");
    let token = hs256(&p, SECRET.as_bytes());
    let err = hs256_verifier().verify_at(&token, now()).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("distinctive"), "{msg}");
    assert!(!msg.contains(&token[..20]), "{msg}");
}

#[test]
fn a_9_kib_token_is_too_large() {
    let mut p = payload();
    p["padding"] = json!("x".repeat(9 * 1024));
    let token = hs256(&p, SECRET.as_bytes());
    assert!(token.len() > MAX_TOKEN_LEN);
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::TooLarge)
    );
    // Checked before parsing: garbage of that size is "too large", not "malformed".
    assert_eq!(
        hs256_verifier().verify_at(&"x".repeat(9 * 1024), now()),
        Err(AuthError::TooLarge)
    );
}

#[test]
fn the_size_limit_is_8_kib_exactly() {
    let padded = |pad: usize| {
        let mut p = payload();
        p["padding"] = json!("x".repeat(pad));
        hs256(&p, SECRET.as_bytes())
    };
    // Grow the padding until the token passes the limit; keep the last one within it.
    let mut pad = 5000;
    let mut within = padded(pad);
    assert!(within.len() <= MAX_TOKEN_LEN);
    let beyond = loop {
        pad += 1;
        let token = padded(pad);
        if token.len() > MAX_TOKEN_LEN {
            break token;
        }
        within = token;
    };
    assert!(within.len() >= MAX_TOKEN_LEN - 1, "{}", within.len());
    assert!(hs256_verifier().verify_at(&within, now()).is_ok());
    assert_eq!(
        hs256_verifier().verify_at(&beyond, now()),
        Err(AuthError::TooLarge)
    );
}

#[test]
fn empty_token_is_missing() {
    assert_eq!(
        hs256_verifier().verify_at("", now()),
        Err(AuthError::Missing)
    );
}

#[test]
fn malformed_tokens_are_rejected() {
    let good = Minter::hs256(SECRET).mint(&claims()).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        "a.b".to_string(),
        "garbage".to_string(),
        "a.b.c".to_string(),
        "..".to_string(),
        ".".to_string(),
        "a.b.c.d".to_string(),
        format!("{good}.extra"),
        format!(" {good}"),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", b64_json(&json!(["HS256"])), parts[1], parts[2]),
        "\u{0}\u{1}.\u{2}.\u{3}".to_string(),
        "🦀.🦀.🦀".to_string(),
    ];
    for token in cases {
        let err = hs256_verifier().verify_at(&token, now()).unwrap_err();
        assert!(matches!(err, AuthError::Malformed(_)), "{token:?}: {err:?}");
    }
}

#[test]
fn payload_that_is_not_json_is_rejected_after_the_signature() {
    let header = b64_json(&json!({"alg": "HS256"}));
    let body = b64(b"{not json");
    let message = format!("{header}.{body}");
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .unwrap();
    let token = format!("{message}.{signature}");
    assert!(matches!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::Malformed(_))
    ));
    // With a wrong signature the payload is never looked at.
    let token = format!("{message}.{}", b64(&[0u8; 32]));
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn critical_header_extensions_are_rejected() {
    let token = craft(
        &json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
        &payload(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    );
    assert!(matches!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn embedded_header_keys_are_ignored() {
    // A token that brings its own key (jwk header) is still checked with the configured one.
    let token = craft(
        &json!({
            "alg": "HS256",
            "jwk": {"kty": "oct", "k": b64(b"attacker-chosen")},
            "jku": "https://evil.example/jwks",
        }),
        &payload(),
        &EncodingKey::from_secret(b"attacker-chosen"),
        Algorithm::HS256,
    );
    assert_eq!(
        hs256_verifier().verify_at(&token, now()),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn times_before_the_epoch_do_not_panic() {
    let token = Minter::hs256(SECRET).mint(&claims()).unwrap();
    let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
    assert!(hs256_verifier().verify_at(&token, before_epoch).is_ok());
}
