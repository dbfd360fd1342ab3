//! Transports: where a session's bytes go, and where a client's bytes come from. A transport
//! knows bytes and framing only (WebSocket frames, an SSE response body); which events to send,
//! the timers and why a session ends belong to the session.
//!
//! - [`accept`] — the accept loop every connection goes through; [`divert`] reads the first
//!   request line and hands SSE connections to their own transport.
//! - [`ws`] — WebSocket: the handshake, RFC 6455 framing, one vectored write per batch.
//! - [`sse`] — Server-Sent Events: a response body the session writes into.

pub(crate) mod accept;
pub(crate) mod divert;
pub(crate) mod sse;
mod write;
pub(crate) mod ws;

use std::future::Future;
use std::io;
use std::task::Context;

use bytes::Bytes;
use socfeed_proto::CloseCode;
pub(crate) use socfeed_proto::wsframe::{FrameError, Incoming};

/// How a transport frames messages, so that a dialect picks the matching encoding of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// One message per WebSocket text frame.
    WebSocket,
    /// One message per Server-Sent Event.
    EventStream,
}

/// Why nothing more can be read from the client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecvError {
    /// The client broke the framing rules (each maps to a close code).
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("the connection ended")]
    Closed,
    #[error("reading the connection: {0}")]
    Io(#[from] io::Error),
}

/// How a connection ends: the WebSocket close code and reason, and the dialect's error message
/// that transports without close codes (SSE) send as a last `error` event instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ending<'a> {
    pub code: CloseCode,
    pub reason: &'a str,
    pub message: Option<&'a [u8]>,
}

/// What the session loop needs of a connection.
///
/// Writes are cancel-safe: bytes the socket did not take are kept and go out first next time,
/// so a session may abandon a blocked write (overflow, shutdown) and still close cleanly.
pub(crate) trait Transport: Send {
    /// The framing, for the choice of encoding.
    const FRAMING: Framing;

    /// Whether the client talks at all. A WebSocket client answers pings (and is closed when it
    /// goes silent); an SSE client sends nothing after its request.
    const HEARS_CLIENT: bool;

    /// The next message from the client. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Result<Incoming, RecvError>> + Send;

    /// Hands the kernel as many of `frames` (one message each, already encoded) as it takes
    /// without waiting; returns how many it took. The rest of a partly written frame is kept for
    /// [`Transport::flush`]; nothing is taken while something is kept.
    fn write_now(&mut self, cx: &mut Context<'_>, frames: &[&Bytes]) -> io::Result<usize>;

    /// Writes what is kept. Cancel-safe.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Whether something written is still kept (then [`Transport::flush`] waits).
    fn holds_back(&self) -> bool;

    /// Sends one message outside the event stream (an ack, a heartbeat, an error). `name` is
    /// the message's name where the framing has names (SSE's `event:`).
    fn send_message(
        &mut self,
        name: &str,
        message: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// A liveness probe, where the transport has one (a WebSocket Ping).
    fn send_ping(&mut self) -> impl Future<Output = io::Result<()>> + Send;

    /// Answers the client's probe (a WebSocket Pong).
    fn send_pong(&mut self, payload: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// Ends the connection its way; bounded in time.
    fn close(self, ending: Ending<'_>) -> impl Future<Output = ()> + Send;
}
