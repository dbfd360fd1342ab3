//! The first request of a connection, read before hyper sees it: a request for a diverted
//! route (the SSE feed) is parsed here (with `httparse`) and the connection handed to that
//! route's own transport; anything else goes to hyper unchanged, the bytes read so far first.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::access::Accepted;

/// Largest request head a diverted route reads (then 431).
const MAX_HEAD: usize = 16 * 1024;
/// Most request headers a diverted route reads (then 431).
const MAX_HEADERS: usize = 64;
/// Bytes read at once while looking at a request line.
const FIRST_READ: usize = 1024;
/// How long a refusal may take to write.
const REFUSAL: Duration = Duration::from_secs(1);

/// A diverted route: `serve` takes its connections over (request head, peer, connection and
/// its place in its address's count) and starts what serves them.
pub(crate) struct Divert {
    /// `GET` requests for exactly this path (any query) are diverted.
    pub(crate) path: &'static str,
    pub(crate) serve: Serve,
}

/// What takes a diverted connection over.
pub(crate) type Serve = Arc<dyn Fn(Parts, SocketAddr, TcpStream, &Arc<Accepted>) + Send + Sync>;

/// What the first request is.
pub(crate) enum First {
    /// For the diverted route: its head.
    Diverted(Parts),
    /// For the diverted route, but unreadable: answer with this status and close.
    Refused(StatusCode, &'static str),
    /// Anything else: for hyper, with the bytes already read.
    Other(Vec<u8>),
}

/// Reads the start of the first request (and all of its head when it is for `path`).
/// An error: the connection ended or failed before a request line could be read.
pub(crate) async fn read_first(io: &mut TcpStream, path: &str) -> io::Result<First> {
    let line = format!("GET {path}");
    let mut head = Vec::with_capacity(FIRST_READ);
    // Enough of the request line to tell.
    loop {
        if io.read_buf(&mut head).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = head.len().min(line.len());
        if head[..n] != line.as_bytes()[..n] {
            return Ok(First::Other(head));
        }
        if head.len() > line.len() {
            if matches!(head[line.len()], b' ' | b'?') {
                break;
            }
            return Ok(First::Other(head));
        }
    }
    // The whole head.
    loop {
        if let Some(first) = parse(&head) {
            return Ok(first);
        }
        head.reserve(FIRST_READ);
        if io.read_buf(&mut head).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// The head in `bytes`, or `None` when more is needed. (A function of its own: the header
/// array stays on the stack instead of in the connection's future.)
fn parse(bytes: &[u8]) -> Option<First> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let malformed = First::Refused(StatusCode::BAD_REQUEST, "malformed request head");
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(_)) => {
            Some(parts(&request).map_or(malformed, First::Diverted))
        }
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => Some(too_large()),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some(too_large()),
        Err(_) => Some(malformed),
    }
}

fn too_large() -> First {
    First::Refused(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request head too large",
    )
}

/// The parsed head as `http` parts; `None` when a part is not valid.
fn parts(request: &httparse::Request<'_, '_>) -> Option<Parts> {
    let mut builder = Request::builder()
        .method(Method::GET)
        .uri(request.path?)
        .version(match request.version? {
            0 => Version::HTTP_10,
            _ => Version::HTTP_11,
        });
    let headers = builder.headers_mut()?;
    for h in request.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        headers.append(name, value);
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

/// `HTTP/1.1 <status>` and the headers, ready to write.
pub(crate) fn response_head(status: StatusCode, headers: &[(&str, &str)]) -> String {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    out
}

/// Refuses the request with `status` and a one-line text body, then closes.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(mut io: S, status: StatusCode, message: String) {
    let body = format!("{message}\n");
    let length = body.len().to_string();
    let headers = [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", length.as_str()),
    ];
    let reply = response_head(status, &headers) + &body;
    let _ = tokio::time::timeout(REFUSAL, async {
        io.write_all(reply.as_bytes()).await?;
        io.shutdown().await
    })
    .await;
}

/// A connection whose first bytes were already read: they are read again first.
pub(crate) struct Rewound<S> {
    read: Vec<u8>,
    from: usize,
    io: S,
}

impl<S> Rewound<S> {
    pub(crate) fn new(read: Vec<u8>, io: S) -> Rewound<S> {
        Rewound { read, from: 0, io }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.from < self.read.len() {
            let n = buf.remaining().min(self.read.len() - self.from);
            let from = self.from;
            buf.put_slice(&self.read[from..from + n]);
            self.from += n;
            if self.from == self.read.len() {
                self.read = Vec::new();
                self.from = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn first(bytes: &[u8]) -> First {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        // In two writes, to cross reads.
        let (a, b) = bytes.split_at(bytes.len().min(5));
        client.write_all(a).await.unwrap();
        let sent = b.to_vec();
        let writer = tokio::spawn(async move {
            tokio::task::yield_now().await;
            client.write_all(&sent).await.unwrap();
            client
        });
        let got = read_first(&mut server, "/v1/soc/feed/sse").await.unwrap();
        drop(writer.await.unwrap());
        got
    }

    #[tokio::test]
    async fn diverts_only_get_of_the_path() {
        let req = b"GET /v1/soc/feed/sse?since=3 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 2\r\n\r\n";
        let First::Diverted(parts) = first(req).await else {
            panic!("diverted")
        };
        assert_eq!(parts.uri.query(), Some("since=3"));
        assert_eq!(parts.headers["last-event-id"], "2");
        for other in [
            &b"GET /v1/soc/feed HTTP/1.1\r\n\r\n"[..],
            b"GET /v1/soc/feed/sse2 HTTP/1.1\r\n\r\n",
            b"POST /v1/soc/feed/sse HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            let First::Other(read) = first(other).await else {
                panic!("{other:?} is not diverted")
            };
            assert!(other.starts_with(&read), "the bytes read are kept");
        }
        let bad = b"GET /v1/soc/feed/sse HTTP/1.1\r\nBad Header\r\n\r\n";
        assert!(matches!(
            first(bad).await,
            First::Refused(StatusCode::BAD_REQUEST, _)
        ));
    }

    #[tokio::test]
    async fn a_refusal_is_a_plain_response() {
        let (server, mut client) = tokio::io::duplex(4096);
        refuse(server, StatusCode::UNAUTHORIZED, "missing token".into()).await;
        let mut got = String::new();
        client.read_to_string(&mut got).await.unwrap();
        assert_eq!(
            got,
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 14\r\nconnection: close\r\n\r\nmissing token\n"
        );
    }
    #[tokio::test]
    async fn rewound_reads_the_prefix_first() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut io = Rewound::new(b"GET ".to_vec(), server);
        client.write_all(b"/ HTTP/1.1").await.unwrap();
        drop(client);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET / HTTP/1.1");
    }
}
