//! The WebSocket transport: the opening handshake ([`upgrade`]), the socket with its framing
//! ([`socket`]), and [`WsTransport`], the session's view of it.

pub(crate) mod socket;
pub(crate) mod upgrade;

use std::io;
use std::task::Context;
use std::time::Duration;

use bytes::Bytes;
use socfeed_proto::wsframe as frame;

pub(crate) use self::upgrade::{ServerSocket, Upgrade};
use super::{Ending, Framing, Incoming, RecvError, Transport};

/// An upgraded WebSocket connection.
pub(crate) struct WsTransport {
    socket: ServerSocket,
    /// How long a close frame may wait to be written before the connection is dropped.
    close_grace: Duration,
}

impl WsTransport {
    /// A transport over `socket`; a write the client takes no byte of for `stall` fails
    /// (`TimedOut`), a close frame gets `close_grace` to go out.
    pub(crate) fn new(
        mut socket: ServerSocket,
        stall: Duration,
        close_grace: Duration,
    ) -> WsTransport {
        socket.set_stall(stall);
        WsTransport {
            socket,
            close_grace,
        }
    }
}

impl Transport for WsTransport {
    const FRAMING: Framing = Framing::WebSocket;
    const HEARS_CLIENT: bool = true;

    async fn recv(&mut self) -> Result<Incoming, RecvError> {
        self.socket.recv().await
    }

    fn write_now(&mut self, cx: &mut Context<'_>, frames: &[&Bytes]) -> io::Result<usize> {
        self.socket.write_now(cx, frame::TEXT, frames)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.socket.flush().await
    }

    fn holds_back(&self) -> bool {
        self.socket.holds_back()
    }

    async fn send_message(&mut self, _name: &str, message: &[u8]) -> io::Result<()> {
        self.socket.send(frame::TEXT, &[message]).await
    }

    async fn send_ping(&mut self) -> io::Result<()> {
        self.socket.send(frame::PING, &[&[]]).await
    }

    async fn send_pong(&mut self, payload: &[u8]) -> io::Result<()> {
        self.socket.send(frame::PONG, &[payload]).await
    }

    /// A close frame with the code; a slow consumer's socket is usually full, so the frame goes
    /// out behind what is buffered once the client reads it, or the connection is dropped after
    /// the grace period.
    async fn close(self, ending: Ending<'_>) {
        let reason = if ending.reason.is_empty() {
            ending.code.reason()
        } else {
            ending.reason
        };
        self.socket
            .close(ending.code.0, truncate(reason, 120), self.close_grace)
            .await;
    }
}

/// `s` cut to at most `max` bytes at a character boundary (close reasons have a size limit).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
