//! URLs: the base URL a caller gives, turned into the WebSocket and HTTP endpoints.

use std::time::Duration;

use socfeed_proto::{Filters, Seq};
use url::Url;

/// Where a GOVERN connection resumes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GovernCursor {
    /// A plain connect: live events only.
    Live,
    /// `?since=<seq>[&epoch=]`.
    Since { since: Seq, epoch: Option<String> },
    /// `?replay=<window>`: for a feed that started live and has seen no event yet.
    Window(Duration),
}

/// Parses a base URL and checks its scheme; `ws` picks the WebSocket form of the scheme.
pub(crate) fn base(url: &str, ws: bool) -> Result<Url, String> {
    let mut u = Url::parse(url).map_err(|e| e.to_string())?;
    let scheme = match (u.scheme(), ws) {
        ("http" | "ws", true) => "ws",
        ("http" | "ws", false) => "http",
        ("https" | "wss", _) => {
            return Err(
                "TLS (https/wss) is not built into this client; use http:// or ws:// \
                        (behind a TLS-terminating proxy)"
                    .into(),
            );
        }
        (other, _) => return Err(format!("unsupported scheme {other:?}")),
    };
    u.set_scheme(scheme)
        .map_err(|()| format!("cannot use scheme {scheme}"))?;
    if u.host().is_none() {
        return Err("no host".into());
    }
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

/// `base` with `path` appended to its own path.
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}{path}"));
    u
}

/// `GET /ws` (subscriptions are sent as messages).
pub(crate) fn aisoc(base: &Url) -> Url {
    join(base, "/ws")
}

/// `GET /v1/soc/feed` with the filters and the cursor as query parameters.
pub(crate) fn govern(base: &Url, filters: &Filters, cursor: &GovernCursor) -> Url {
    let mut u = join(base, "/v1/soc/feed");
    {
        let mut q = u.query_pairs_mut();
        for (key, list) in [
            ("severities", &filters.severities),
            ("types", &filters.types),
            ("systems", &filters.systems),
            ("events", &filters.events),
        ] {
            if !list.is_empty() {
                q.append_pair(key, &list.join(","));
            }
        }
        match cursor {
            GovernCursor::Live => {}
            GovernCursor::Since { since, epoch } => {
                q.append_pair("since", &since.to_string());
                if let Some(e) = epoch {
                    q.append_pair("epoch", e);
                }
            }
            GovernCursor::Window(w) => {
                q.append_pair("replay", &format!("{}ms", w.as_millis().max(1)));
            }
        }
    }
    if u.query() == Some("") {
        u.set_query(None);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_paths() {
        let b = base("http://127.0.0.1:8086", true).unwrap();
        assert_eq!(aisoc(&b).as_str(), "ws://127.0.0.1:8086/ws");
        let b = base("ws://h:1/prefix/?x=1", false).unwrap();
        assert_eq!(
            join(&b, "/v1/events").as_str(),
            "http://h:1/prefix/v1/events"
        );
        assert!(base("https://h", true).is_err());
        assert!(base("ftp://h", true).is_err());
        assert!(base("not a url", true).is_err());
    }

    #[test]
    fn govern_query() {
        let b = base("http://h:1", true).unwrap();
        let f = Filters {
            severities: vec!["critical".into(), "high".into()],
            events: vec!["alert.new".into()],
            ..Filters::default()
        };
        assert_eq!(
            govern(&b, &Filters::default(), &GovernCursor::Live).as_str(),
            "ws://h:1/v1/soc/feed"
        );
        let cursor = GovernCursor::Since {
            since: 41,
            epoch: Some("e 1".into()),
        };
        assert_eq!(
            govern(&b, &f, &cursor).as_str(),
            "ws://h:1/v1/soc/feed?severities=critical%2Chigh&events=alert.new&since=41&epoch=e+1"
        );
        let w = GovernCursor::Window(Duration::from_millis(2500));
        assert_eq!(
            govern(&b, &Filters::default(), &w).as_str(),
            "ws://h:1/v1/soc/feed?replay=2500ms"
        );
    }
}
