//! The WebSocket opening handshake (RFC 6455 §4.2): checks the client's request, answers
//! `101 Switching Protocols`, and hands the upgraded connection to the session as a [`Socket`].

use std::future::Future;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::socket::Socket;

/// The socket type sessions get.
pub(crate) type ServerSocket = Socket<TokioIo<Upgraded>>;

/// RFC 6455 §1.3.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A valid WebSocket upgrade request.
pub(crate) struct Upgrade {
    on_upgrade: OnUpgrade,
    accept: HeaderValue,
    protocols: Option<HeaderValue>,
}

/// A request that is not a WebSocket handshake we can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    status: StatusCode,
    message: &'static str,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        response
    }
}

fn refuse(status: StatusCode, message: &'static str) -> Refused {
    Refused { status, message }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Upgrade, Refused> {
        let accept = check(&parts.method, &parts.headers)?;
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        ))?;
        Ok(Upgrade {
            on_upgrade,
            accept,
            protocols: parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).cloned(),
        })
    }
}

/// Checks the handshake headers; returns the `Sec-WebSocket-Accept` value.
fn check(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, Refused> {
    if method != Method::GET {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake is a GET",
        ));
    }
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported `Sec-WebSocket-Version` (13 is)",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| !k.is_empty())
        .ok_or(refuse(
            StatusCode::BAD_REQUEST,
            "missing `Sec-WebSocket-Key`",
        ))?;
    Ok(accept_key(key.as_bytes()))
}

/// `base64(sha1(key + GUID))`.
fn accept_key(key: &[u8]) -> HeaderValue {
    let digest = Sha1::new()
        .chain_update(key)
        .chain_update(ACCEPT_GUID)
        .finalize();
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
    HeaderValue::from_str(&encoded)
        .unwrap_or_else(|_| unreachable!("base64 is a valid header value"))
}

impl Upgrade {
    /// Whether the client offered subprotocol `name`.
    fn offered(&self, name: &str) -> bool {
        self.protocols.as_ref().is_some_and(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|p| p.trim() == name))
        })
    }

    /// Answers 101 (selecting `protocol` when the client offered it) and runs `session` on the
    /// upgraded connection once hyper hands it over.
    pub(crate) fn on_upgrade<F, Fut>(
        self,
        protocol: Option<&'static str>,
        max_message: usize,
        session: F,
    ) -> Response
    where
        F: FnOnce(ServerSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let selected = protocol.filter(|p| self.offered(p));
        let Upgrade {
            on_upgrade, accept, ..
        } = self;
        tokio::spawn(async move {
            // Awaited apart from the match, so that nothing of the upgrade outlives it.
            let upgraded = on_upgrade.await;
            match upgraded {
                Ok(upgraded) => session(Socket::new(TokioIo::new(upgraded), max_message)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        if let Some(p) = selected {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    const GOOD: &[(&str, &str)] = &[
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn accept_key_of_the_rfc_example() {
        let accept = check(&Method::GET, &headers(GOOD)).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn refusals() {
        assert_eq!(
            check(&Method::POST, &headers(GOOD)).unwrap_err().status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        for left_out in GOOD {
            let partial: Vec<_> = GOOD.iter().filter(|p| *p != left_out).copied().collect();
            let refused = check(&Method::GET, &headers(&partial)).unwrap_err();
            assert!(refused.status.is_client_error(), "without {left_out:?}");
        }
        let mut old = headers(GOOD);
        old.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        let refused = check(&Method::GET, &old).unwrap_err();
        assert_eq!(refused.status, StatusCode::UPGRADE_REQUIRED);
        assert_eq!(
            refused.into_response().headers()[header::SEC_WEBSOCKET_VERSION],
            "13"
        );
    }
}
