//! SSE as a hyper response body, for a request that came on a connection hyper already serves
//! (a kept-alive one).
//!
//! The session runs inside the body: hyper polls the body for its next chunk, the body polls the
//! session, and what the session writes is handed to hyper as it is (the shared, once-encoded
//! frames, no copy). There is no task and no channel between them. The body holds at most one
//! batch of frames; a full body makes the session's writes wait, like a full socket.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use socfeed_proto::sse;

use super::{HEADERS, RETRY_MS};
use crate::transport::{Ending, Framing, Incoming, RecvError, Transport};
/// Frames the body holds at most before the session's writes wait.
const HELD: usize = 64;

/// What the session wrote and hyper has not taken yet. The session and the body are polled by
/// the same task, so the lock is never contended.
#[derive(Default)]
struct Outbox {
    frames: Mutex<VecDeque<Bytes>>,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Bytes>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The session's end of an SSE response.
pub(crate) struct SseBodyTransport {
    out: Arc<Outbox>,
}

/// Starts an SSE response whose body is `session`, run on the transport given to `start`; the
/// stream opens with the retry hint.
pub(crate) fn respond<F, Fut>(start: F) -> Response
where
    F: FnOnce(SseBodyTransport) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let out = Arc::new(Outbox::default());
    out.lock().push_back(sse::retry(RETRY_MS).into());
    let session = start(SseBodyTransport {
        out: Arc::clone(&out),
    });
    let body = SseBody {
        session: Some(Box::pin(session)),
        out,
    };
    let mut response = Body::new(body).into_response();
    let h = response.headers_mut();
    for (name, value) in HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

impl SseBodyTransport {
    /// Queues whole frames; the body hands them to hyper.
    fn push(&self, frame: Bytes) {
        self.out.lock().push_back(frame);
    }
}

impl Transport for SseBodyTransport {
    const FRAMING: Framing = Framing::EventStream;
    const HEARS_CLIENT: bool = false;

    /// An SSE client sends nothing after its request; when it goes away, hyper drops the body
    /// and the session with it.
    async fn recv(&mut self) -> Result<Incoming, RecvError> {
        std::future::pending().await
    }

    fn write_now(&mut self, _cx: &mut Context<'_>, frames: &[&Bytes]) -> io::Result<usize> {
        let mut out = self.out.lock();
        let room = HELD.saturating_sub(out.len()).min(frames.len());
        out.extend(frames[..room].iter().map(|f| (*f).clone()));
        Ok(room)
    }

    /// Waits until hyper took everything. No waker is needed: the body polls the session again
    /// as soon as it has handed over what it held.
    async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|_| {
            if self.out.lock().is_empty() {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn holds_back(&self) -> bool {
        !self.out.lock().is_empty()
    }

    async fn send_message(&mut self, name: &str, message: &[u8]) -> io::Result<()> {
        self.push(sse::message(name, message).into());
        self.flush().await
    }

    async fn send_ping(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn send_pong(&mut self, _payload: &[u8]) -> io::Result<()> {
        Ok(())
    }

    /// A last `error` event when there is something to say; the stream then ends once the body
    /// handed over what it holds.
    async fn close(self, ending: Ending<'_>) {
        if let Some(message) = ending.message {
            self.push(sse::message("error", message).into());
        }
    }
}

/// The response body: hands over what the session wrote, and runs the session while there is
/// nothing to hand over.
struct SseBody {
    session: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    out: Arc<Outbox>,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        loop {
            if let Some(frame) = self.out.lock().pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            let Some(session) = self.session.as_mut() else {
                return Poll::Ready(None);
            };
            match session.as_mut().poll(cx) {
                // Hand over what it wrote last, then end.
                Poll::Ready(()) => self.session = None,
                Poll::Pending if self.out.lock().is_empty() => return Poll::Pending,
                Poll::Pending => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.session.is_none() && self.out.lock().is_empty()
    }
}
