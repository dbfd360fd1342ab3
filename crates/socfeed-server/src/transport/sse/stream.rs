//! SSE on a connection of its own. The response is close-delimited (`connection: close`, no
//! length): the stream ends when the connection does. Writes are the WebSocket path's: shared
//! frames in vectored writes, bytes kept only while the kernel is full; reads (only to see the
//! client go) go through the stack.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use socfeed_proto::sse;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::{HEADERS, RETRY_MS};
use crate::transport::divert::response_head;
use crate::transport::write::{Pending, no_header};
use crate::transport::{Ending, Framing, Incoming, RecvError, Transport};

/// Bytes read per attempt (on the stack, not kept).
const READ_CHUNK: usize = 512;
/// How long the connection's shutdown may take.
const SHUTDOWN: Duration = Duration::from_secs(1);

/// An SSE stream on its own connection.
pub(crate) struct SseStream<S = TcpStream> {
    io: S,
    pending: Pending,
    /// How long a last `error` event may wait behind a full socket.
    close_grace: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> SseStream<S> {
    /// Answers the request: the response head and the retry hint. A write the client takes no
    /// byte of for `stall` fails (`TimedOut`); `allow_origin` is the CORS
    /// `Access-Control-Allow-Origin` to answer with, if any.
    pub(crate) async fn open(
        mut io: S,
        stall: Duration,
        close_grace: Duration,
        allow_origin: Option<String>,
    ) -> io::Result<SseStream<S>> {
        let mut headers = HEADERS.to_vec();
        if let Some(origin) = &allow_origin {
            headers.push(("access-control-allow-origin", origin));
            headers.push(("vary", "origin"));
        }
        let mut start = response_head(StatusCode::OK, &headers);
        start.push_str(&sse::retry(RETRY_MS));
        io.write_all(start.as_bytes()).await?;
        Ok(SseStream {
            io,
            pending: Pending::new(stall),
            close_grace,
        })
    }

    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(buf.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Transport for SseStream<S> {
    const FRAMING: Framing = Framing::EventStream;
    const HEARS_CLIENT: bool = false;

    /// An SSE client sends nothing after its request: anything it sends is read and dropped,
    /// until it goes away.
    async fn recv(&mut self) -> Result<Incoming, RecvError> {
        loop {
            if poll_fn(|cx| self.poll_discard(cx)).await? == 0 {
                return Err(RecvError::Closed);
            }
        }
    }

    fn write_now(&mut self, cx: &mut Context<'_>, frames: &[&Bytes]) -> io::Result<usize> {
        self.pending.write_now(&mut self.io, cx, frames, &no_header)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.pending.flush(&mut self.io).await
    }

    fn holds_back(&self) -> bool {
        !self.pending.is_empty()
    }

    async fn send_message(&mut self, name: &str, message: &[u8]) -> io::Result<()> {
        let event = sse::message(name, message);
        self.pending.send(&mut self.io, &[event], &no_header).await
    }

    async fn send_ping(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn send_pong(&mut self, _payload: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// A last `error` event when there is something to say, then the end of the connection.
    async fn close(mut self, ending: Ending<'_>) {
        let grace = self.close_grace;
        let said = tokio::time::timeout(grace, async {
            self.flush().await?;
            match ending.message {
                Some(message) => self.send_message("error", message).await,
                None => Ok(()),
            }
        })
        .await;
        if matches!(said, Ok(Ok(()))) {
            let _ = tokio::time::timeout(SHUTDOWN, self.io.shutdown()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_stream_is_a_head_then_events() {
        let (server, mut client) = tokio::io::duplex(4096);
        let mut stream =
            SseStream::open(server, Duration::from_secs(1), Duration::from_secs(1), None)
                .await
                .unwrap();
        let frame = Bytes::from_static(b"id: 1\nevent: a.b\ndata: {}\n\n");
        let taken = poll_fn(|cx| Poll::Ready(stream.write_now(cx, &[&frame, &frame])))
            .await
            .unwrap();
        assert_eq!(taken, 2);
        let ending = Ending {
            code: socfeed_proto::CloseCode::UNAUTHORIZED,
            reason: "",
            message: Some(b"{\"event\":\"error\"}"),
        };
        stream.close(ending).await;
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
             x-accel-buffering: no\r\nconnection: close\r\n\r\nretry: 2000\n\n\
             id: 1\nevent: a.b\ndata: {}\n\nid: 1\nevent: a.b\ndata: {}\n\n\
             event: error\ndata: {\"event\":\"error\"}\n\n"
        );
    }
}
