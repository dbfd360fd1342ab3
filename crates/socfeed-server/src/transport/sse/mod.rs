//! The Server-Sent Events transport, in two forms with the same bytes on the wire:
//!
//! - [`stream`] — the first request of a connection: the accept loop hands the connection over,
//!   and the session writes shared frames to it in vectored writes, like a WebSocket (no HTTP
//!   buffers are kept for an idle stream).
//! - [`body`] — a request on a connection hyper already serves (kept alive after another
//!   request): the session runs inside the response body.

pub(crate) mod body;
pub(crate) mod stream;

/// Reconnect delay suggested to `EventSource` clients, in milliseconds.
const RETRY_MS: u64 = 2000;

/// Response headers of a stream; they keep proxies from buffering it.
const HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
];
