//! socfeed's tokens: verifying the JWTs clients present, and minting them.
//!
//! * [`Verifier`] — built once from [`KeySettings`]; checks a token's signature, times, issuer,
//!   audience and claim shapes, and returns its [`Claims`]. Every failure is an [`AuthError`]
//!   (the server answers all of them with close code 4001 / HTTP 401).
//! * [`Minter`] — signs [`Claims`] with an HS256 secret or an RS256 / ES256 / EdDSA private key
//!   (`socfeed token`, the test kit, the demo).
//! * [`claims`] — fills a [`Claims`] with `iat` and `exp` from the current time.
//!
//! Keys never change their algorithm: the shared secret only ever checks HS256, an RSA key only
//! RS256, a P-256 key only ES256 and an Ed25519 key only EdDSA. The token's header picks among the
//! configured keys (by `alg`, and by `kid` when it names one) but can never make a key play another
//! algorithm, which is what rules out `alg: none` and algorithm confusion.

mod error;
mod keys;
mod mint;
mod verify;

use std::time::Duration;

pub use error::{AuthError, KeyError};
pub use keys::{Alg, KeySettings};
pub use mint::{Minter, claims};
pub use socfeed_proto::{Claims, Role};
pub use verify::Verifier;

/// Tokens longer than this (in bytes) are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The most clock leeway a [`Verifier`] grants; larger settings are clamped to it.
pub const MAX_LEEWAY: Duration = Duration::from_secs(5);
