//! A server WebSocket over an upgraded connection: whole messages in, frames out.
//!
//! Writes hand the kernel every frame of a batch in one vectored write (see `transport::write`):
//! a 2–10 byte header per frame next to the shared, already-encoded payload. Reads go through a
//! stack buffer into a buffer that exists only while a message is incomplete. So an idle
//! connection holds no buffer at all.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use socfeed_proto::wsframe::{self as frame, Incoming, MAX_HEADER, Reader};

use crate::transport::RecvError;
use crate::transport::write::Pending;

/// Bytes asked of the socket per read (on the stack, not kept).
const READ_CHUNK: usize = 2048;
/// How long the close handshake waits for the peer's close frame.
const CLOSE_REPLY: Duration = Duration::from_secs(1);

/// The server side of one WebSocket.
pub(crate) struct Socket<S> {
    io: S,
    reader: Reader,
    /// Received bytes that do not form a whole frame yet (unallocated when idle).
    inbuf: Vec<u8>,
    /// Frame bytes the socket did not take yet; written before anything else.
    pending: Pending,
    /// The client sent its Close frame: ours is the reply, and nothing more will come.
    peer_closed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    /// A socket refusing client messages larger than `max_message` bytes.
    pub(crate) fn new(io: S, max_message: usize) -> Socket<S> {
        Socket {
            io,
            reader: Reader::new(max_message),
            inbuf: Vec::new(),
            pending: Pending::default(),
            peer_closed: false,
        }
    }

    /// The next message from the client. Cancel-safe: bytes already read stay here.
    pub(crate) async fn recv(&mut self) -> Result<Incoming, RecvError> {
        loop {
            if let Some(message) = self.reader.next(&mut self.inbuf)? {
                if self.inbuf.is_empty() {
                    self.inbuf = Vec::new();
                }
                self.peer_closed |= matches!(message, Incoming::Close(_));
                return Ok(message);
            }
            if poll_fn(|cx| self.poll_fill(cx)).await? == 0 {
                return Err(RecvError::Closed);
            }
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        self.inbuf.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    /// Sends one frame per payload (all of `opcode`), then waits until the socket took them.
    /// If cancelled, what was not written yet stays pending and goes out first next time.
    pub(crate) async fn send<P: AsRef<[u8]> + Sync>(
        &mut self,
        opcode: u8,
        payloads: &[P],
    ) -> io::Result<()> {
        let header = move |len: usize, buf: &mut [u8; MAX_HEADER]| frame::header(opcode, len, buf);
        self.pending.send(&mut self.io, payloads, &header).await
    }

    /// Writes one frame per payload as far as the socket takes them without waiting; returns
    /// how many it took (see [`Pending::write_now`]: at most one frame is ever copied).
    pub(crate) fn write_now<P: AsRef<[u8]>>(
        &mut self,
        cx: &mut Context<'_>,
        opcode: u8,
        payloads: &[P],
    ) -> io::Result<usize> {
        let header = move |len: usize, buf: &mut [u8; MAX_HEADER]| frame::header(opcode, len, buf);
        self.pending.write_now(&mut self.io, cx, payloads, &header)
    }

    /// Makes a write the client takes no byte of for `stall` fail with `TimedOut`.
    pub(crate) fn set_stall(&mut self, stall: Duration) {
        self.pending.set_stall(stall);
    }

    /// Whether frame bytes wait for the socket.
    pub(crate) fn holds_back(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes whatever is pending. Cancel-safe: progress is kept.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.pending.flush(&mut self.io).await
    }

    /// Sends a close frame, waits up to `grace` for it to go out and (unless it answers the
    /// client's own Close) up to a second for the client's close frame, then shuts the
    /// connection.
    pub(crate) async fn close(mut self, code: u16, reason: &str, grace: Duration) {
        let payload = frame::close_payload(code, reason);
        let sent = tokio::time::timeout(grace, self.send(frame::CLOSE, &[&payload])).await;
        if !matches!(sent, Ok(Ok(()))) {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_REPLY, async {
            while !self.peer_closed {
                match self.recv().await {
                    Ok(Incoming::Close(_)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        let _ = tokio::time::timeout(
            CLOSE_REPLY,
            poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        frame::client_frame(true, opcode, payload, [1, 2, 3, 4])
    }

    #[tokio::test]
    async fn messages_in_frames_out() {
        let (server, mut client) = tokio::io::duplex(64);
        let mut socket = Socket::new(server, 1024);
        client
            .write_all(&masked(frame::TEXT, b"hello"))
            .await
            .unwrap();
        assert_eq!(socket.recv().await.unwrap(), Incoming::Text("hello".into()));
        assert_eq!(socket.inbuf.capacity(), 0, "an idle socket holds no buffer");

        // A duplex of 64 bytes cannot take three frames at once: the rest waits in `pending`.
        let big = vec![b'x'; 200];
        let frames: [&[u8]; 3] = [b"a", &big, b"c"];
        let send = socket.send(frame::TEXT, &frames);
        let read = async {
            let mut got = vec![0u8; 2 + 1 + 4 + 200 + 2 + 1];
            client.read_exact(&mut got).await.unwrap();
            got
        };
        let (sent, got) = tokio::join!(send, read);
        sent.unwrap();
        assert_eq!(&got[..3], &[0x81, 1, b'a']);
        assert_eq!(&got[3..7], &[0x81, 126, 0, 200]);
        assert_eq!(&got[207..], &[0x81, 1, b'c']);
        assert_eq!(socket.pending.capacity(), 0);

        drop(client);
        assert!(matches!(socket.recv().await, Err(RecvError::Closed)));
    }

    #[tokio::test]
    async fn a_full_socket_keeps_at_most_one_frame() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut socket = Socket::new(server, 1024);
        let frame_body = vec![b'z'; 16 * 1024];
        let payloads: Vec<&[u8]> = (0..2000).map(|_| frame_body.as_slice()).collect();
        // Nobody reads: the kernel buffers fill and the socket stops taking frames.
        let taken = poll_fn(|cx| Poll::Ready(socket.write_now(cx, frame::TEXT, &payloads)))
            .await
            .unwrap();
        assert!(
            taken < payloads.len(),
            "a 32 MiB burst cannot fit the socket"
        );
        assert!(
            socket.pending.len() <= frame_body.len() + MAX_HEADER,
            "{} bytes kept",
            socket.pending.len()
        );
        // Read back: frames arrive whole and in order while the rest is sent.
        let reading = tokio::spawn(async move {
            let mut frames = 0;
            loop {
                let mut head = [0u8; 4];
                client.read_exact(&mut head).await.unwrap();
                assert_eq!(head, [0x81, 126, 0x40, 0x00], "a 16 KiB text frame");
                let mut body = vec![0u8; 16 * 1024];
                client.read_exact(&mut body).await.unwrap();
                assert!(body.iter().all(|b| *b == b'z'));
                frames += 1;
                if frames == 2000 {
                    return frames;
                }
            }
        });
        socket.flush().await.unwrap();
        socket.send(frame::TEXT, &payloads[taken..]).await.unwrap();
        assert_eq!(reading.await.unwrap(), 2000);
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut socket = Socket::new(server, 1024);
        let frame = masked(frame::TEXT, b"split");
        client.write_all(&frame[..4]).await.unwrap();
        let first = tokio::time::timeout(Duration::from_millis(50), socket.recv()).await;
        assert!(first.is_err(), "no whole message yet");
        client.write_all(&frame[4..]).await.unwrap();
        assert_eq!(socket.recv().await.unwrap(), Incoming::Text("split".into()));
    }

    #[tokio::test]
    async fn close_sends_code_and_waits_for_the_reply() {
        let (server, mut client) = tokio::io::duplex(1024);
        let socket = Socket::new(server, 1024);
        let closing = tokio::spawn(socket.close(4008, "slow consumer", Duration::from_secs(1)));
        let mut head = [0u8; 4];
        client.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x88);
        assert_eq!(u16::from_be_bytes([head[2], head[3]]), 4008);
        let mut reason = vec![0u8; usize::from(head[1]) - 2];
        client.read_exact(&mut reason).await.unwrap();
        assert_eq!(reason, b"slow consumer");
        client
            .write_all(&masked(frame::CLOSE, &4008u16.to_be_bytes()))
            .await
            .unwrap();
        closing.await.unwrap();
    }
}
