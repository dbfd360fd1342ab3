//! What a GOVERN feed request asks for: filters and resume cursor, from the query string and
//! `Last-Event-ID` (the same for the WebSocket and SSE transports).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderMap;
use socfeed_proto::Filters;

use crate::session::Cursor;

/// A feed request's filters and cursor; problems are reported to the client, not fatal.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedRequest {
    /// Filters from `?severities=&types=&systems=&events=` (comma-separated); `None` when absent.
    pub filters: Option<Filters>,
    pub cursor: Option<Cursor>,
    /// Messages about query parameters that were ignored.
    pub errors: Vec<String>,
}

impl FeedRequest {
    pub(crate) fn parse(
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        default_window: Duration,
    ) -> FeedRequest {
        let mut errors = Vec::new();
        let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
        let cursor =
            Cursor::from_request(query, last_event_id, default_window).unwrap_or_else(|e| {
                errors.push(format!("{e}; no replay"));
                None
            });
        let filters = filters(query);
        FeedRequest {
            filters,
            cursor,
            errors,
        }
    }
}

/// The GOVERN filters of a query: `severities`, `types`, `systems`, `events`, each
/// comma-separated; `None` when none is given.
pub(crate) fn filters(query: &HashMap<String, String>) -> Option<Filters> {
    let list = |key: &str| -> Vec<String> {
        query
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let filters = Filters {
        severities: list("severities"),
        types: list("types"),
        systems: list("systems"),
        events: list("events"),
    };
    (!filters.is_empty()).then_some(filters)
}
