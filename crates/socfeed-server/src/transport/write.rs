//! Writing shared frames to a connection: every frame of a batch in one vectored write, a small
//! header per frame (WebSocket framing; none for SSE) next to the shared, already-encoded bytes,
//! so a delivery copies nothing. Only what the kernel does not take at once is copied, into a
//! pending buffer that goes out before anything else; at most one frame is ever copied.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socfeed_proto::wsframe::MAX_HEADER;
use tokio::io::AsyncWrite;

/// Frames per vectored write (two slices each, well under the kernel's 1024).
const FRAMES_PER_WRITE: usize = 64;

/// A frame's header (`H` below) writes itself for a payload of `len` bytes into the buffer and
/// returns its length. No header: the frames are the bytes.
pub(crate) fn no_header(_: usize, _: &mut [u8; MAX_HEADER]) -> usize {
    0
}

/// Far enough to mean never (a year).
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a connection did not take yet (unallocated when empty).
#[derive(Debug)]
pub(crate) struct Pending {
    bytes: Vec<u8>,
    from: usize,
    /// A flush that hands the connection no byte for this long fails with `TimedOut`.
    stall: Duration,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending::new(NEVER)
    }
}

impl Pending {
    /// Nothing pending; a flush stuck for `stall` fails.
    pub(crate) fn new(stall: Duration) -> Pending {
        Pending {
            bytes: Vec::new(),
            from: 0,
            stall,
        }
    }

    /// Makes a flush stuck for `stall` fail.
    pub(crate) fn set_stall(&mut self, stall: Duration) {
        self.stall = stall;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - self.from
    }

    /// Writes one header + payload per payload, in vectored writes of up to 64 frames, as far as
    /// `io` takes them without waiting; returns how many payloads it took. When `io` fills up,
    /// the rest of a partly written frame (or, if nothing could be written, the next whole
    /// frame) is kept here for [`Pending::flush`]: the caller keeps the others. Takes nothing
    /// while something is pending.
    pub(crate) fn write_now<S, P, H>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
        payloads: &[P],
        header: &H,
    ) -> io::Result<usize>
    where
        S: AsyncWrite + Unpin,
        P: AsRef<[u8]>,
        H: Fn(usize, &mut [u8; MAX_HEADER]) -> usize,
    {
        if !self.bytes.is_empty() {
            return Ok(0);
        }
        if !io.is_write_vectored() {
            // Not expected for a TCP connection; correct but copying.
            for payload in payloads {
                let payload = payload.as_ref();
                let mut head = [0u8; MAX_HEADER];
                let len = header(payload.len(), &mut head);
                self.bytes.extend_from_slice(&head[..len]);
                self.bytes.extend_from_slice(payload);
            }
            return Ok(payloads.len());
        }
        let mut taken = 0;
        for chunk in payloads.chunks(FRAMES_PER_WRITE) {
            let mut heads = [[0u8; MAX_HEADER]; FRAMES_PER_WRITE];
            let mut lens = [0usize; FRAMES_PER_WRITE];
            for (i, payload) in chunk.iter().enumerate() {
                lens[i] = header(payload.as_ref().len(), &mut heads[i]);
            }
            let mut slices = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE];
            for (i, payload) in chunk.iter().enumerate() {
                slices[2 * i] = IoSlice::new(&heads[i][..lens[i]]);
                slices[2 * i + 1] = IoSlice::new(payload.as_ref());
            }
            let frames = &slices[..2 * chunk.len()];
            let mut iov = slices;
            let mut left: &mut [IoSlice<'_>] = &mut iov[..2 * chunk.len()];
            let mut written = 0;
            while !left.is_empty() {
                match Pin::new(&mut *io).poll_write_vectored(cx, left) {
                    Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                    Poll::Ready(Ok(n)) => {
                        written += n;
                        IoSlice::advance_slices(&mut left, n);
                    }
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(taken + self.keep_one(frames, written)),
                }
            }
            taken += chunk.len();
        }
        Ok(taken)
    }

    /// `io` is full after `written` bytes of `frames` (header and payload slices in turn):
    /// keeps the rest of the frame being written, or the next whole frame if none was started;
    /// returns how many frames are now written or kept.
    fn keep_one(&mut self, frames: &[IoSlice<'_>], written: usize) -> usize {
        let mut start = 0;
        for (i, pair) in frames.chunks(2).enumerate() {
            let len: usize = pair.iter().map(|s| s.len()).sum();
            if written < start + len {
                let mut skip = written - start;
                for slice in pair {
                    let from = skip.min(slice.len());
                    self.bytes.extend_from_slice(&slice[from..]);
                    skip -= from;
                }
                return i + 1;
            }
            start += len;
        }
        frames.len() / 2
    }

    /// Writes whatever is pending. Cancel-safe: progress is kept. Fails with `TimedOut` when
    /// the connection takes no byte for the stall time (a client that stopped reading).
    pub(crate) async fn flush<S: AsyncWrite + Unpin>(&mut self, io: &mut S) -> io::Result<()> {
        while self.from < self.bytes.len() {
            let write = poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &self.bytes[self.from..]));
            let written = tokio::time::timeout(self.stall, write)
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.from += written;
        }
        if !self.bytes.is_empty() {
            self.bytes = Vec::new();
            self.from = 0;
        }
        Ok(())
    }

    /// Writes `payloads` whole (header before each), then waits until `io` took them. If
    /// cancelled, what was not written yet stays pending and goes out first next time.
    pub(crate) async fn send<S, P, H>(
        &mut self,
        io: &mut S,
        payloads: &[P],
        header: &H,
    ) -> io::Result<()>
    where
        S: AsyncWrite + Unpin,
        P: AsRef<[u8]>,
        H: Fn(usize, &mut [u8; MAX_HEADER]) -> usize + Sync,
    {
        let mut sent = 0;
        loop {
            sent += poll_fn(|cx| Poll::Ready(self.write_now(io, cx, &payloads[sent..], header)))
                .await?;
            self.flush(io).await?;
            if sent == payloads.len() {
                return Ok(());
            }
        }
    }
}
