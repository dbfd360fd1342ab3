//! Who may open a feed connection: a verified subscriber of one tenant, within the connection
//! limits of that tenant and of the client's address.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use socfeed_proto::{Claims, CloseCode, TenantId};

use super::auth::{self, Denied, Principal, TokenSource};
use super::limits::{Accepted, Slot};
use crate::state::AppState;

/// An admitted subscriber; its connection slot is held until this is dropped.
pub(crate) struct Admitted {
    pub claims: Claims,
    pub tenant: TenantId,
    pub slot: Slot,
}

/// A refused connection: the WebSocket close code or the HTTP status, and why.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub code: CloseCode,
    pub status: StatusCode,
    pub message: String,
}

impl From<Denied> for Refusal {
    fn from(d: Denied) -> Refusal {
        Refusal {
            code: d.close_code(),
            status: d.status(),
            message: d.message().to_owned(),
        }
    }
}

/// Authenticates a feed request from `ip` on `connection` and takes a feed slot.
pub(crate) fn admit(
    state: &AppState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    ip: IpAddr,
    connection: &Arc<Accepted>,
) -> (Result<Admitted, Refusal>, Option<TokenSource>) {
    let (principal, source) = auth::authenticate_feed(state, headers, raw_query);
    let who = principal
        .as_ref()
        .ok()
        .map(|p| (p.claims.tenant_id.clone(), p.claims.sub.clone()));
    let admitted = principal.map_err(Refusal::from).and_then(|p| match p {
        // Not served while the engine is out of reach: the client retries with its cursor.
        _ if !state.engine_up() => Err(Refusal {
            code: CloseCode::TRY_AGAIN_LATER,
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the engine is unavailable; reconnect later with your cursor".into(),
        }),
        Principal {
            claims,
            tenant: Some(tenant),
        } => match state.limits.admit(&tenant, ip, connection) {
            Ok(slot) => Ok(Admitted {
                claims,
                tenant,
                slot,
            }),
            Err(e) => Err(Refusal {
                code: CloseCode::TOO_MANY,
                status: StatusCode::TOO_MANY_REQUESTS,
                message: e.to_string(),
            }),
        },
        Principal { tenant: None, .. } => Err(Refusal::from(Denied::Forbidden(
            "a \"*\" token cannot subscribe".into(),
        ))),
    });
    match &admitted {
        Ok(a) => state.audit.opened(a.tenant.as_str(), &a.claims.sub, ip),
        Err(r) => {
            let who = who.as_ref().map(|(t, s)| (t.as_str(), s.as_str()));
            state.audit.refused("feed", &r.message, who, ip);
        }
    }
    (admitted, source)
}
