//! `socfeed_proto::wsframe::Reader`: the bytes a WebSocket client sends, after the handshake.
//!
//! Invariants: never panics and never loops forever; bytes are only ever taken off the front
//! of the buffer, and a returned message accounts for what was taken; a text message is UTF-8
//! and no data message exceeds the limit; the same input split at any point gives the same
//! messages and the same verdict (the reader keeps no hidden state about where reads end).
#![no_main]

use libfuzzer_sys::fuzz_target;
use socfeed_proto::wsframe::{FrameError, Incoming, Reader};

const LIMIT: usize = 1024;

/// Every message of `chunks` fed in order, and how it ended.
fn read(chunks: &[&[u8]]) -> (Vec<Incoming>, Option<FrameError>) {
    let mut reader = Reader::new(LIMIT);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match reader.next(&mut buf) {
                Ok(Some(m)) => {
                    assert!(buf.len() < before, "a message took no bytes");
                    if let Incoming::Text(t) = &m {
                        assert!(t.len() <= LIMIT);
                    }
                    out.push(m);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let whole = read(&[bytes]);
    let at = usize::from(cut) % (bytes.len() + 1);
    let split = read(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole, split, "split at {at}");
});
