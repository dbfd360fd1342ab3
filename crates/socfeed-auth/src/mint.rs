//! Minting tokens: `socfeed token`, the demo and the test kit.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use socfeed_proto::{Claims, Role};

use crate::error::KeyError;
use crate::keys::{self, Alg};

/// Signs claims with one key. Cheap to clone.
#[derive(Clone)]
pub struct Minter {
    alg: Alg,
    key: EncodingKey,
    /// Goes into the header; a JWKS-configured verifier picks its key by it.
    kid: Option<String>,
    empty_secret: bool,
}

impl Minter {
    /// HS256 with a shared secret (its bytes are the HMAC key).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Minter {
        let secret = secret.as_ref();
        Minter {
            alg: Alg::Hs256,
            key: EncodingKey::from_secret(secret),
            kid: None,
            empty_secret: secret.is_empty(),
        }
    }

    /// A private key in PEM: RSA (PKCS#8 or PKCS#1) signs RS256, EC P-256 (PKCS#8) ES256 and
    /// Ed25519 (PKCS#8) EdDSA. The key is checked by signing once.
    pub fn from_private_pem(pem: &[u8]) -> Result<Minter, KeyError> {
        Minter::from_pem_named(pem, "private key PEM")
    }

    /// [`Minter::from_private_pem`] from a file; errors name the path.
    pub fn from_private_pem_file(path: impl AsRef<Path>) -> Result<Minter, KeyError> {
        let path = path.as_ref();
        let pem = keys::read(path)?;
        Minter::from_pem_named(&pem, &path.display().to_string())
    }

    fn from_pem_named(pem: &[u8], origin: &str) -> Result<Minter, KeyError> {
        let (alg, key) =
            keys::private_pem(pem).map_err(|reason| KeyError::invalid(origin, reason))?;
        Ok(Minter {
            alg,
            key,
            kid: None,
            empty_secret: false,
        })
    }

    /// Puts `kid` in the header of every token.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Minter {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm this minter signs with.
    pub fn algorithm(&self) -> Alg {
        self.alg
    }

    /// The key id put in the header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A signed compact JWT carrying `claims`, with `typ: JWT`, the minter's `alg` and `kid`.
    pub fn mint(&self, claims: &Claims) -> Result<String, KeyError> {
        if self.empty_secret {
            return Err(KeyError::EmptySecret);
        }
        let mut header = Header::new(self.alg.jwt());
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| KeyError::Signing(e.to_string()))
    }
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Claims for `tenant` / `sub` with `roles` and an optional channel allow-list, issued now
/// (`iat`) and expiring after `ttl` (`exp`, rounded up to the next second).
pub fn claims(
    tenant: &str,
    sub: &str,
    roles: &[Role],
    channels: Option<Vec<String>>,
    ttl: Duration,
) -> Claims {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let ttl_secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Claims {
        sub: sub.to_owned(),
        tenant_id: tenant.to_owned(),
        exp: now.saturating_add(ttl_secs),
        roles: roles.to_vec(),
        channels,
        iss: None,
        aud: None,
        nbf: None,
        iat: Some(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_fill_iat_and_exp() {
        let c = claims(
            "acme",
            "alice",
            &[Role::Subscriber],
            Some(vec!["alerts".into()]),
            Duration::from_millis(1500),
        );
        let iat = c.iat.unwrap();
        assert_eq!(c.exp, iat + 2);
        assert_eq!((c.tenant_id.as_str(), c.sub.as_str()), ("acme", "alice"));
        assert_eq!(c.roles, [Role::Subscriber]);
        assert_eq!(c.channels.as_deref(), Some(&["alerts".to_string()][..]));
        assert!(c.iss.is_none() && c.aud.is_none() && c.nbf.is_none());
    }

    #[test]
    fn hs256_tokens_carry_alg_typ_and_kid() {
        let c = claims("t", "u", &[], None, Duration::from_secs(60));
        let token = Minter::hs256("k").with_kid("key-1").mint(&c).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.kid.as_deref(), Some("key-1"));
    }

    #[test]
    fn empty_secret_does_not_mint() {
        let c = claims("t", "u", &[], None, Duration::from_secs(60));
        assert!(matches!(
            Minter::hs256("").mint(&c),
            Err(KeyError::EmptySecret)
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", Minter::hs256("hunter2-very-secret"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
