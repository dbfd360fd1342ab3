//! The HTTP surface: every route in one table, plus the small operational endpoints.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::cors::{self, AllowOrigin, CorsLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;

use base64::Engine;
use sha2::Digest;

use crate::access;
use crate::config::Origins;
use crate::dialect::{aisoc, govern};
use crate::history;
use crate::ingest;
use crate::state::AppState;
use crate::transport::divert::Divert;

/// The live feed page served at `/`.
const INDEX_HTML: &str = include_str!("../assets/index.html");

/// The route served on a connection of its own when it is the connection's first request
/// (see `transport::divert`); on a kept-alive connection the router serves it.
pub(crate) fn divert(state: Arc<AppState>) -> Divert {
    Divert {
        path: "/v1/soc/feed/sse",
        serve: Arc::new(move |head, peer, io, connection| {
            govern::sse_stream(Arc::clone(&state), head, peer, io, connection);
        }),
    }
}

/// CORS for the routes a dashboard on another origin calls with `fetch` (preflight included).
fn cors(origins: &Origins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(Duration::from_secs(600));
    match origins {
        Origins::Any => layer.allow_origin(cors::Any),
        Origins::List(list) => layer.allow_origin(AllowOrigin::list(
            list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
        )),
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.max_body_size;
    let with_cors = Router::new()
        .route("/v1/soc/feed/sse", get(govern::sse_handler))
        .route(
            "/v1/events",
            post(ingest::handler)
                .layer(DefaultBodyLimit::max(body_limit))
                .get(history::handler),
        )
        .route("/v1/tickets", post(access::tickets_handler))
        .layer(cors(&state.config.allowed_origins));
    Router::new()
        .route("/", get(index))
        .route("/ws", get(aisoc::handler))
        .route("/v1/soc/feed", get(govern::ws_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(with_cors)
        .layer(axum::middleware::from_fn(access::refuse_over_limit))
        // A body must arrive in time once its headers did (slowloris on the body).
        .layer(RequestBodyTimeoutLayer::new(state.config.body_timeout))
        .with_state(state)
}

/// The page, with a Content-Security-Policy that allows its own inline script and style (by
/// hash) and scripts of its own origin, nothing else: no framing, no referrer.
async fn index() -> Response {
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    let csp = CSP.get_or_init(|| page_policy(INDEX_HTML));
    let mut page = Html(INDEX_HTML).into_response();
    let h = page.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    page
}

/// The CSP of `html`: its `<script>` and `<style>` elements allowed by their SHA-256.
fn page_policy(html: &str) -> HeaderValue {
    let hashes = |tag: &str| -> String {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        html.split(open.as_str())
            .skip(1)
            .filter_map(|rest| rest.split(close.as_str()).next())
            .map(|body| {
                let digest = sha2::Sha256::digest(body.as_bytes());
                format!(
                    " 'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                )
            })
            .collect()
    };
    let policy = format!(
        "default-src 'none'; script-src 'self'{}; style-src 'self'{}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    // The engine probe's last answer (once a second), the same view admission has: a node
    // that says it is ready also admits feeds.
    if state.engine_up() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "engine unavailable\n")
    }
}

/// The Prometheus text; with `--metrics-token`, only for a request bearing it.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(want) = &state.config.metrics_token {
        let given = access::find_token(&headers, None).map(|(t, _)| t);
        if !given.is_some_and(|t| same(t.as_bytes(), want.as_bytes())) {
            let mut refused =
                (StatusCode::UNAUTHORIZED, "metrics need the metrics token\n").into_response();
            refused
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return refused;
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Compares two secrets in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
