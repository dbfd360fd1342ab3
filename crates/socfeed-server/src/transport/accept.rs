//! The accept loop: one task per TCP stream; a deadline for the first request line and for the
//! request headers (slowloris); the diverted route (see [`super::divert`]) or hyper with
//! WebSocket upgrades; the peer address for handlers; graceful shutdown.

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

/// How long in-flight HTTP requests may take to finish once shutdown began.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `stop` fires; then stops accepting and lets in-flight
/// requests finish (bounded). A connection whose first request is for the `divert` route is
/// handed to it instead. Upgraded WebSockets and diverted connections are not waited for here:
/// sessions close themselves on the same token.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    divert: Divert,
    stop: CancellationToken,
    header_timeout: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    let divert = Arc::new(divert);
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
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            Arc::clone(&divert),
            Arc::clone(&builder),
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
/// diverted route or hyper serves it.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    divert: Arc<Divert>,
    builder: Arc<Builder<TokioExecutor>>,
    graceful: Watcher,
    header_timeout: Duration,
) {
    // Awaited apart from the match: a temporary in the scrutinee would live as long as the match,
    // and so would its timer, for a diverted connection's whole life.
    let first = tokio::time::timeout(header_timeout, read_first(&mut stream, divert.path)).await;
    let read = match first {
        Ok(Ok(First::Other(read))) => read,
        // Served by a task of its own: this one and its state end here.
        Ok(Ok(First::Diverted(parts))) => return (divert.serve)(parts, peer, stream),
        Ok(Ok(First::Refused(status, message))) => {
            return refuse(stream, status, message.into()).await;
        }
        // Gone, failed, or silent past the deadline.
        Ok(Err(_)) | Err(_) => return,
    };
    let service = router.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        req.map(Body::new)
    });
    let io = TokioIo::new(Rewound::new(read, stream));
    let conn = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    // Boxed: a diverted connection's task does not carry hyper's connection state.
    let _ = Box::pin(graceful.watch(conn.into_owned())).await;
}
