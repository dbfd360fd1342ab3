//! The token hook: where a feed or a publisher gets a token before each (re)connect or request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use socfeed_proto::{Claims, TenantId};

use crate::error::TokenError;

/// A boxed token future.
pub type TokenFuture = Pin<Box<dyn Future<Output = Result<String, TokenError>> + Send>>;

/// Fetches a token; called before every connection attempt and every publish.
pub trait TokenSource: Send + Sync + 'static {
    fn token(&self) -> TokenFuture;
}

/// A shareable token hook.
#[derive(Clone)]
pub struct Tokens(Arc<dyn TokenSource>);

impl Tokens {
    /// Always the same token.
    pub fn fixed(token: impl Into<String>) -> Tokens {
        let token: Arc<str> = Arc::from(token.into());
        Tokens::from_fn(move || {
            let token = Arc::clone(&token);
            async move { Ok::<_, TokenError>(token.to_string()) }
        })
    }

    /// An async closure, e.g. one that asks an identity provider for a fresh token.
    pub fn from_fn<F, Fut, E>(f: F) -> Tokens
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + Send + 'static,
        E: Into<TokenError>,
    {
        struct FnSource<F>(F);
        impl<F, Fut, E> TokenSource for FnSource<F>
        where
            F: Fn() -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<String, E>> + Send + 'static,
            E: Into<TokenError>,
        {
            fn token(&self) -> TokenFuture {
                let fut = (self.0)();
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
        }
        Tokens(Arc::new(FnSource(f)))
    }

    /// Any [`TokenSource`].
    pub fn custom(source: impl TokenSource) -> Tokens {
        Tokens(Arc::new(source))
    }

    /// Asks the hook for a token.
    pub async fn fetch(&self) -> Result<String, TokenError> {
        self.0.token().await
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(..)")
    }
}

/// The tenant a token names, read without checking its signature (the server checks it): GOVERN
/// envelopes do not carry `tenant_id`, so a GOVERN feed fills it in from its token.
pub(crate) fn tenant_of(token: &str) -> Option<TenantId> {
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(token).ok()?;
    TenantId::parse(&claims.tenant_id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_and_fn_sources() {
        assert_eq!(Tokens::fixed("abc").fetch().await.unwrap(), "abc");
        let t = Tokens::from_fn(|| async { Err::<String, _>("idp down") });
        assert_eq!(t.fetch().await.unwrap_err().to_string(), "idp down");
    }

    #[test]
    fn tenant_is_read_from_the_claims() {
        // {"alg":"HS256"} . {"sub":"u","tenant_id":"acme","exp":1} . signature (not checked)
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1IiwidGVuYW50X2lkIjoiYWNtZSIsImV4cCI6MX0.c2ln";
        assert_eq!(tenant_of(token).unwrap().as_str(), "acme");
        assert!(tenant_of("opaque").is_none());
    }
}
