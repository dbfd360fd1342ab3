//! Who is asking: the token taken from a request, verified, and checked for the needed role.

use std::time::Instant;

use axum::http::HeaderMap;
use axum::http::StatusCode;
use socfeed_auth::Verifier;
use socfeed_proto::{Claims, CloseCode, Role, TenantId};

use crate::metrics::Metrics;
use crate::state::AppState;

/// Where the token came from; the subprotocol form needs the `bearer` protocol echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenSource {
    Header,
    Query,
    Subprotocol,
}

/// The `bearer` subprotocol is selected when the token came that way (browsers drop a
/// connection whose offered subprotocol the server does not select).
pub(crate) fn subprotocol(source: Option<TokenSource>) -> Option<&'static str> {
    (source == Some(TokenSource::Subprotocol)).then_some("bearer")
}

/// Finds the token: `Authorization: Bearer`, then `?token=`, then `Sec-WebSocket-Protocol: bearer, <jwt>`.
pub(crate) fn find_token<'a>(
    headers: &'a HeaderMap,
    query_token: Option<&'a str>,
) -> Option<(&'a str, TokenSource)> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(t) = header.and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    }) {
        return Some((t.trim(), TokenSource::Header));
    }
    if let Some(t) = query_token.filter(|t| !t.is_empty()) {
        return Some((t, TokenSource::Query));
    }
    subprotocol_token(headers)
}

/// A refused request: 4001/401 or 4003/403, with a message safe to show (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    Unauthorized(String),
    Forbidden(String),
}

impl Denied {
    pub(crate) fn close_code(&self) -> CloseCode {
        match self {
            Denied::Unauthorized(_) => CloseCode::UNAUTHORIZED,
            Denied::Forbidden(_) => CloseCode::FORBIDDEN,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Denied::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Denied::Unauthorized(m) | Denied::Forbidden(m) => m,
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub claims: Claims,
    /// The caller's tenant; `None` for a `"*"` service publisher.
    pub tenant: Option<TenantId>,
}

/// Verifies `token` and checks `role`. Subscribers must belong to one tenant.
pub(crate) fn authenticate(
    verifier: &Verifier,
    metrics: &Metrics,
    token: Option<&str>,
    role: Role,
) -> Result<Principal, Denied> {
    let claims = token
        .ok_or_else(|| Denied::Unauthorized("missing token".into()))
        .and_then(|t| {
            verifier
                .verify(t)
                .map_err(|e| Denied::Unauthorized(format!("invalid token: {e}")))
        });
    let result = claims.and_then(|c| principal(c, role));
    if let Err(Denied::Unauthorized(_)) = &result {
        metrics.auth_failures.inc();
    }
    result
}

/// Authenticates a feed request: a `?ticket=` (single use) or a token from the header, the query
/// (`raw_query`, as sent) or the subprotocol. A request carrying more than one credential (two
/// different tokens, a token and a ticket, two tickets) is refused: which one counts would be a
/// guess. Returns the principal and where its token came from.
pub(crate) fn authenticate_feed(
    state: &AppState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> (Result<Principal, Denied>, Option<TokenSource>) {
    let mut tickets = Vec::new();
    let mut query_tokens = Vec::new();
    for (key, value) in form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes()) {
        match &*key {
            "ticket" => tickets.push(value),
            "token" if !value.is_empty() => query_tokens.push(value),
            _ => {}
        }
    }
    let header = find_token(headers, None).filter(|(_, s)| *s == TokenSource::Header);
    let protocol = subprotocol_token(headers);
    let mut tokens: Vec<(&str, TokenSource)> = Vec::new();
    tokens.extend(header);
    tokens.extend(query_tokens.iter().map(|t| (&**t, TokenSource::Query)));
    tokens.extend(protocol);
    let distinct = {
        let mut all: Vec<&str> = tokens.iter().map(|(t, _)| *t).collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    };
    let result = if tickets.len() + distinct.min(1) > 1 || distinct > 1 {
        Err(Denied::Unauthorized(
            "ambiguous_credentials: the request carries more than one token or ticket".into(),
        ))
    } else if let Some(ticket) = tickets.first() {
        state
            .tickets
            .redeem(ticket, Instant::now())
            .ok_or_else(|| Denied::Unauthorized("invalid, used or expired ticket".into()))
            .and_then(|claims| principal(claims, Role::Subscriber))
    } else {
        let found = tokens.first().copied();
        let result = authenticate(
            &state.verifier(),
            &state.metrics,
            found.map(|f| f.0),
            Role::Subscriber,
        );
        return (result, found.map(|f| f.1));
    };
    if let Err(Denied::Unauthorized(_)) = &result {
        state.metrics.auth_failures.inc();
    }
    (result, None)
}

/// The token of `Sec-WebSocket-Protocol: bearer, <jwt>`.
fn subprotocol_token(headers: &HeaderMap) -> Option<(&str, TokenSource)> {
    let protocols = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?;
    let mut parts = protocols.split(',').map(str::trim);
    parts.find(|p| p.eq_ignore_ascii_case("bearer"))?;
    parts
        .next()
        .filter(|t| !t.is_empty())
        .map(|t| (t, TokenSource::Subprotocol))
}

/// Checks verified claims for `role`.
fn principal(claims: Claims, role: Role) -> Result<Principal, Denied> {
    let tenant = if claims.is_any_tenant() {
        None
    } else {
        Some(
            TenantId::parse(&claims.tenant_id)
                .map_err(|e| Denied::Unauthorized(format!("invalid token: {e}")))?,
        )
    };
    if !claims.has_role(role) {
        let need = match role {
            Role::Subscriber => "subscriber",
            Role::Publisher => "publisher",
            Role::Admin => "admin",
        };
        return Err(Denied::Forbidden(format!("token lacks the {need} role")));
    }
    if role == Role::Subscriber && tenant.is_none() {
        return Err(Denied::Forbidden(
            "a \"*\" token cannot subscribe; use a tenant's token".into(),
        ));
    }
    Ok(Principal { claims, tenant })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_sources_in_order() {
        let mut h = HeaderMap::new();
        assert_eq!(find_token(&h, None), None);
        assert_eq!(find_token(&h, Some("q")), Some(("q", TokenSource::Query)));
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("bearer, abc.def.ghi"),
        );
        assert_eq!(
            find_token(&h, None),
            Some(("abc.def.ghi", TokenSource::Subprotocol))
        );
        h.insert("authorization", HeaderValue::from_static("Bearer hdr"));
        assert_eq!(
            find_token(&h, Some("q")),
            Some(("hdr", TokenSource::Header))
        );
    }
}
