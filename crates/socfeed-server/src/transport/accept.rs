//! The accept loop: each TCP stream placed in its address's count at once (see
//! [`crate::access::Gate`]), then one task per stream; a deadline from accept for the first
//! request's headers (slowloris, silent sockets); the diverted route (see [`super::divert`]) or
//! hyper with WebSocket upgrades; the peer address and the count's place for handlers; graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::divert::{Divert, First, Rewound, read_first, refuse};
use crate::access::{Accepted, Gate};

/// How long in-flight HTTP requests may take to finish once shutdown began.
const DRAIN: Duration = Duration::from_secs(5);
/// The header deadline of a connection over its address's limit (it only gets a refusal).
const OVER_LIMIT_HEADERS: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` fires; then stops accepting and lets in-flight
/// requests finish (bounded). A connection whose first request is for the `divert` route is
/// handed to it instead. Upgraded WebSockets and diverted connections are not waited for here:
/// sessions close themselves on the same token.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    divert: Divert,
    gate: Gate,
    stop: CancellationToken,
    header_timeout: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let serving = Arc::new(Serving {
        router,
        divert,
        builder,
        stop: stop.clone(),
    });
    let graceful = GracefulShutdown::new();
    let mut failures = Failures::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    failures.log(&e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        // Counted before anything is read; at its address's limit and past the few refused in
        // words, closed right here.
        let Some(accepted) = gate.accept(peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let header_timeout = match *accepted {
            Accepted::Over { .. } => header_timeout.min(OVER_LIMIT_HEADERS),
            _ => header_timeout,
        };
        tokio::spawn(connection(
            stream,
            peer,
            accepted,
            Arc::clone(&serving),
            graceful.watcher(),
            header_timeout,
        ));
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests still running after {DRAIN:?}; stopping anyway");
    }
}

/// What serves every connection.
struct Serving {
    router: Router,
    divert: Divert,
    builder: Builder<TokioExecutor>,
    /// Shutdown: a connection that has not sent its first request yet is closed (it would
    /// otherwise keep the server's state alive until its header deadline).
    stop: CancellationToken,
}

/// Failed accepts, logged at most once a second (with how many there were since).
#[derive(Default)]
struct Failures {
    last: Option<tokio::time::Instant>,
    since: u64,
}

impl Failures {
    fn log(&mut self, e: &std::io::Error) {
        self.since += 1;
        let now = tokio::time::Instant::now();
        if self.last.is_none_or(|t| now - t >= Duration::from_secs(1)) {
            tracing::warn!(error = %e, failures = self.since, "accept failed");
            self.last = Some(now);
            self.since = 0;
        }
    }
}

/// One connection: its first request line (within the header deadline) decides whether the
/// diverted route or hyper serves it. `accepted` (its place in its address's count) goes with
/// every request on it, and with what serves the diverted route.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    accepted: Arc<Accepted>,
    serving: Arc<Serving>,
    graceful: Watcher,
    header_timeout: Duration,
) {
    let divert = &serving.divert;
    // Awaited apart from the match: a temporary in the scrutinee would live as long as the match,
    // and so would its timer, for a diverted connection's whole life.
    let first = tokio::select! {
        first = tokio::time::timeout(header_timeout, read_first(&mut stream, divert.path)) => first,
        () = serving.stop.cancelled() => return,
    };
    let read = match first {
        Ok(Ok(First::Other(read))) => read,
        // Served by a task of its own: this one and its state end here.
        Ok(Ok(First::Diverted(parts))) => return (divert.serve)(parts, peer, stream, &accepted),
        Ok(Ok(First::Refused(status, message))) => {
            return refuse(stream, status, message.into()).await;
        }
        // Gone, failed, or silent past the deadline.
        Ok(Err(_)) | Err(_) => return,
    };
    let service = serving
        .router
        .clone()
        .map_request(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req.extensions_mut().insert(Arc::clone(&accepted));
            req.map(Body::new)
        });
    let io = TokioIo::new(Rewound::new(read, stream));
    let conn = serving
        .builder
        .serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    // Boxed: a diverted connection's task does not carry hyper's connection state.
    let _ = Box::pin(graceful.watch(conn.into_owned())).await;
}
