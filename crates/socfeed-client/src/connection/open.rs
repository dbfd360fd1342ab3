//! Opening a connection: a fresh token, the dialect's URL and cursor, the handshake with
//! `Authorization: Bearer`, and the subscribe messages.

use futures_util::SinkExt;
use socfeed_proto::Channel;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

use super::reader::{Reader, all, channels};
use super::{Link, Ws};
use crate::config::Dialect;
use crate::ended::Ended;
use crate::endpoint::{self, GovernCursor};
use crate::token;
use crate::wire;

/// Token, URL, handshake and the first messages.
pub(super) async fn open(link: &Link<'_>) -> Result<(Ws, Reader), Ended> {
    let token = tokio::select! {
        () = link.stop.cancelled() => return Err(Ended::Stopped),
        t = tokio::time::timeout(link.config.connect_timeout, link.tokens.fetch()) => match t {
            Err(_) => return Err(Ended::Token(format!("timed out after {:?}", link.config.connect_timeout))),
            Ok(t) => t.map_err(|e| Ended::Token(e.to_string()))?,
        },
    };
    let (url, reader, first) = match &link.config.dialect {
        Dialect::Aisoc {
            channels: requested,
        } => {
            let list = channels(requested);
            let msgs = list
                .iter()
                .map(|c| {
                    let since = link.resume.since(c);
                    wire::aisoc::subscribe(c, since, link.resume.epoch())
                })
                .collect();
            let asked = list
                .iter()
                .map(|c| (c.clone(), link.resume.since(c)))
                .collect();
            let all = list.iter().any(Channel::is_all);
            (
                endpoint::aisoc(link.base),
                Reader::Aisoc { all, asked },
                msgs,
            )
        }
        Dialect::Govern { filters } => {
            let tenant = token::tenant_of(&token).ok_or_else(|| Ended::Refused {
                code: 4001,
                reason: "the token names no tenant_id".into(),
            })?;
            let asked = link.resume.since(&all());
            let cursor = match (asked, link.window) {
                (Some(since), _) => GovernCursor::Since {
                    since,
                    epoch: link.resume.epoch().map(String::from),
                },
                (None, Some(w)) => GovernCursor::Window(w),
                (None, None) => GovernCursor::Live,
            };
            let reader = Reader::Govern {
                tenant,
                asked,
                in_replay: false,
            };
            let url = endpoint::govern(link.base, filters, &cursor);
            (url, reader, vec![wire::govern::subscribe(filters)])
        }
    };
    let mut ws = tokio::select! {
        () = link.stop.cancelled() => return Err(Ended::Stopped),
        r = tokio::time::timeout(link.config.connect_timeout, handshake(&url, &token)) => match r {
            Err(_) => return Err(Ended::Connect(format!("timed out after {:?}", link.config.connect_timeout))),
            Ok(r) => r?,
        },
    };
    for msg in first {
        let sent = tokio::time::timeout(link.config.connect_timeout, ws.send(Message::text(msg)));
        match sent.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Ended::Lost(e.to_string())),
            Err(_) => return Err(Ended::Lost("timed out sending a subscribe".into())),
        }
    }
    Ok((ws, reader))
}

/// The WebSocket handshake with `Authorization: Bearer` (tokens stay out of URLs and logs).
async fn handshake(url: &Url, token: &str) -> Result<Ws, Ended> {
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| Ended::Connect(e.to_string()))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Ended::Token("the token is not a valid header value".into()))?;
    req.headers_mut()
        .insert(tungstenite::http::header::AUTHORIZATION, bearer);
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let code = resp.status().as_u16();
            if matches!(code, 401 | 403) {
                Err(Ended::Refused {
                    code,
                    reason: format!("HTTP {} at the handshake", resp.status()),
                })
            } else {
                Err(Ended::Connect(format!("HTTP {}", resp.status())))
            }
        }
        Err(e) => Err(Ended::Connect(e.to_string())),
    }
}
