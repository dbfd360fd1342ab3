//! Why a token was refused, and why keys could not be loaded or used.

use std::path::PathBuf;

use crate::MAX_TOKEN_LEN;

/// Why a token was refused. The messages are safe to show to the client: they never contain the
/// token, and values taken from it (an algorithm name, a key id) are shortened and sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token, or an empty one.
    #[error("missing token")]
    Missing,
    /// Longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) bytes.
    #[error("token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// Not a compact JWS (`header.payload.signature`, base64url, JSON).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not one socfeed accepts (`none` included), or no configured key
    /// accepts it.
    #[error("token algorithm {0} is not accepted")]
    UnsupportedAlgorithm(String),
    /// The header's `kid` names no configured key.
    #[error("unknown key id {0}")]
    UnknownKey(String),
    /// The signature does not match any candidate key.
    #[error("bad token signature")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid yet")]
    NotYetValid,
    /// An issuer is configured and `iss` is missing or different.
    #[error("token issuer is missing or not accepted")]
    WrongIssuer,
    /// An audience is configured and `aud` is missing or does not contain it.
    #[error("token audience is missing or not accepted")]
    WrongAudience,
    /// A required claim is missing, or a claim has the wrong type or an impossible value.
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
}

/// Why keys could not be loaded, or a token could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No secret, public key file or JWKS file is configured.
    #[error(
        "no token keys configured: set a shared secret (HS256), a public key PEM file or a JWKS file"
    )]
    NoKeys,
    /// The HS256 secret is the empty string.
    #[error("the HS256 shared secret is empty")]
    EmptySecret,
    /// A key file could not be read.
    #[error("reading {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A key (in a PEM file, a JWKS file, or PEM bytes) is unusable; `origin` names it.
    #[error("{origin}: {reason}")]
    InvalidKey { origin: String, reason: String },
    /// Signing failed.
    #[error("signing the token: {0}")]
    Signing(String),
}

impl KeyError {
    pub(crate) fn invalid(origin: impl Into<String>, reason: impl Into<String>) -> KeyError {
        KeyError::InvalidKey {
            origin: origin.into(),
            reason: reason.into(),
        }
    }
}

/// A value taken from a token, made safe to put in a message: at most 32 characters, printable
/// ASCII only, quoted.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 32;
    let mut out: String = value
        .chars()
        .take(MAX)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_values_are_short_quoted_and_printable() {
        assert_eq!(shown("none"), "\"none\"");
        assert_eq!(shown("a\nb\u{7}é"), "\"a?b??\"");
        let long = "x".repeat(1000);
        let s = shown(&long);
        assert!(s.len() < 40, "{s}");
        assert!(s.ends_with("...\""));
    }

    #[test]
    fn messages_are_clear() {
        assert_eq!(AuthError::Missing.to_string(), "missing token");
        assert_eq!(
            AuthError::TooLarge.to_string(),
            "token is longer than 8192 bytes"
        );
        assert_eq!(
            AuthError::UnsupportedAlgorithm(shown("none")).to_string(),
            "token algorithm \"none\" is not accepted"
        );
        let e = KeyError::Read {
            path: "/etc/socfeed/key.pem".into(),
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(
            e.to_string().starts_with("reading /etc/socfeed/key.pem: "),
            "{e}"
        );
    }
}
