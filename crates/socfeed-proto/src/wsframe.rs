//! WebSocket framing (RFC 6455), server side, without IO: client frames in (masked, possibly fragmented,
//! control frames in between), frame headers out (unmasked).
//!
//! The reader works on a byte buffer the socket fills. It looks at a frame's header before its
//! payload is buffered, so an oversized message is refused (1009) before it occupies memory,
//! and it holds nothing between messages: an idle connection owns no buffer.

/// Opcodes (RFC 6455 §5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// Longest frame header: 2 bytes, 8 of extended length (a server sends no mask).
pub const MAX_HEADER: usize = 10;
/// Control frames carry at most this many payload bytes.
const MAX_CONTROL: usize = 125;

/// One complete message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    /// A binary message (its content is not kept: the dialects speak JSON text).
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// A close frame: its status code (none when it carried no payload) and reason.
    Close(Option<u16>),
}

/// Why the client's bytes cannot be read on: each maps to a close code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A framing rule was broken (close with 1002).
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A message is larger than the limit (close with 1009).
    #[error("message too big")]
    TooBig,
    /// A text message is not UTF-8 (close with 1007).
    #[error("text message is not valid UTF-8")]
    BadUtf8,
}

impl FrameError {
    /// The close code RFC 6455 §7.4.1 assigns.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::TooBig => 1009,
            FrameError::BadUtf8 => 1007,
        }
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header, mask included.
    header_len: usize,
    payload_len: usize,
}

/// Reads client messages out of a byte buffer.
#[derive(Debug)]
pub struct Reader {
    max_message: usize,
    /// The data message being reassembled from fragments: its opcode and payload so far.
    fragments: Option<(u8, Vec<u8>)>,
}

impl Reader {
    /// A reader refusing messages larger than `max_message` bytes.
    pub fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            fragments: None,
        }
    }

    /// Takes complete frames off the front of `buf` until one completes a message, which it
    /// returns; `Ok(None)` when `buf` holds no complete message yet (what is left of it is the
    /// start of the next frame). An error leaves the connection unusable.
    pub fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Incoming>, FrameError> {
        loop {
            let Some(header) = parse_header(buf)? else {
                return Ok(None);
            };
            self.check_size(&header)?;
            let total = header.header_len + header.payload_len;
            if buf.len() < total {
                return Ok(None);
            }
            let mut payload = buf[header.header_len..total].to_vec();
            buf.drain(..total);
            unmask(&mut payload, header.mask);
            if let Some(message) = self.on_frame(header, payload)? {
                return Ok(Some(message));
            }
        }
    }

    /// Whether the frame, added to the message it belongs to, stays within the limit. Checked
    /// on the header alone.
    fn check_size(&self, header: &Header) -> Result<(), FrameError> {
        if is_control(header.opcode) {
            return Ok(());
        }
        let so_far = self.fragments.as_ref().map_or(0, |(_, data)| data.len());
        match so_far.checked_add(header.payload_len) {
            Some(n) if n <= self.max_message => Ok(()),
            _ => Err(FrameError::TooBig),
        }
    }

    fn on_frame(&mut self, h: Header, payload: Vec<u8>) -> Result<Option<Incoming>, FrameError> {
        match h.opcode {
            PING => Ok(Some(Incoming::Ping(payload))),
            PONG => Ok(Some(Incoming::Pong)),
            CLOSE => close_frame(&payload).map(Some),
            TEXT | BINARY if self.fragments.is_some() => Err(FrameError::Protocol(
                "a new data frame began before the fragmented message ended",
            )),
            TEXT | BINARY if h.fin => finish(h.opcode, payload).map(Some),
            TEXT | BINARY => {
                self.fragments = Some((h.opcode, payload));
                Ok(None)
            }
            CONTINUATION => {
                let Some((opcode, mut data)) = self.fragments.take() else {
                    return Err(FrameError::Protocol(
                        "continuation frame without a message to continue",
                    ));
                };
                data.extend_from_slice(&payload);
                if h.fin {
                    finish(opcode, data).map(Some)
                } else {
                    self.fragments = Some((opcode, data));
                    Ok(None)
                }
            }
            _ => Err(FrameError::Protocol("unknown opcode")),
        }
    }
}

fn is_control(opcode: u8) -> bool {
    opcode & 0x8 != 0
}

fn finish(opcode: u8, data: Vec<u8>) -> Result<Incoming, FrameError> {
    if opcode == BINARY {
        return Ok(Incoming::Binary);
    }
    String::from_utf8(data)
        .map(Incoming::Text)
        .map_err(|_| FrameError::BadUtf8)
}

fn close_frame(payload: &[u8]) -> Result<Incoming, FrameError> {
    match payload {
        [] => Ok(Incoming::Close(None)),
        [_] => Err(FrameError::Protocol("close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            std::str::from_utf8(reason).map_err(|_| FrameError::BadUtf8)?;
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(FrameError::Protocol("invalid close code"));
            }
            Ok(Incoming::Close(Some(code)))
        }
    }
}

/// The header at the front of `buf`, once all of it is there.
fn parse_header(buf: &[u8]) -> Result<Option<Header>, FrameError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol(
            "reserved bits set without an extension",
        ));
    }
    if b1 & 0x80 == 0 {
        return Err(FrameError::Protocol("client frames must be masked"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let (len, ext) = match b1 & 0x7F {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                (u64::from_be_bytes(be), 8)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 0),
    };
    if is_control(opcode) && (!fin || len > MAX_CONTROL as u64) {
        return Err(FrameError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    let Some(mask) = rest.get(ext..ext + 4) else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        header_len: 2 + ext + 4,
        // A length past usize is too big for any limit.
        payload_len: usize::try_from(len).unwrap_or(usize::MAX),
    }))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Writes the header of an unmasked, final frame into `out`; returns its length.
pub fn header(opcode: u8, payload_len: usize, out: &mut [u8; MAX_HEADER]) -> usize {
    out[0] = 0x80 | opcode;
    if payload_len < 126 {
        out[1] = payload_len as u8;
        2
    } else if let Ok(n) = u16::try_from(payload_len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&n.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    }
}

/// The payload of a close frame: the code, then the reason cut to fit a control frame.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// A whole client frame, masked with `mask` (`fin: false` starts or continues a fragmented
/// message). What a client sends; the server's tests and tools use it to speak raw WebSocket.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => match u16::try_from(n) {
            Ok(short) => {
                out.push(0x80 | 126);
                out.extend_from_slice(&short.to_be_bytes());
            }
            Err(_) => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        },
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], mask);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(fin, opcode, payload, [0x37, 0xfa, 0x21, 0x3d])
    }

    fn read_all(reader: &mut Reader, mut buf: Vec<u8>) -> Result<Vec<Incoming>, FrameError> {
        let mut out = Vec::new();
        while let Some(m) = reader.next(&mut buf)? {
            out.push(m);
        }
        assert!(buf.is_empty(), "bytes left over: {buf:?}");
        Ok(out)
    }

    #[test]
    fn text_ping_close() {
        let mut buf = frame(true, TEXT, br#"{"type":"ping"}"#);
        buf.extend(frame(true, PING, b"hi"));
        buf.extend(frame(true, CLOSE, &close_payload(1000, "bye")));
        let got = read_all(&mut Reader::new(1024), buf).unwrap();
        assert_eq!(
            got,
            [
                Incoming::Text(r#"{"type":"ping"}"#.into()),
                Incoming::Ping(b"hi".to_vec()),
                Incoming::Close(Some(1000)),
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_messages() {
        let mut whole = frame(true, TEXT, "héllo".as_bytes());
        whole.extend(frame(true, TEXT, &vec![b'x'; 300]));
        whole.extend(frame(true, TEXT, &vec![b'y'; 70_000]));
        for cut in 0..whole.len().min(400) {
            let mut reader = Reader::new(1 << 20);
            let mut buf = whole[..cut].to_vec();
            let mut got = Vec::new();
            while let Some(m) = reader.next(&mut buf).unwrap() {
                got.push(m);
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(m) = reader.next(&mut buf).unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[0], Incoming::Text("héllo".into()));
        }
    }

    #[test]
    fn fragments_with_a_control_frame_between() {
        let mut buf = frame(false, TEXT, b"hel");
        buf.extend(frame(true, PING, b""));
        buf.extend(frame(false, CONTINUATION, b"lo "));
        buf.extend(frame(true, CONTINUATION, b"world"));
        let got = read_all(&mut Reader::new(1024), buf).unwrap();
        assert_eq!(
            got,
            [Incoming::Ping(vec![]), Incoming::Text("hello world".into())]
        );
    }

    #[test]
    fn size_limit_is_checked_on_the_header() {
        // Only the header of a 1 MiB frame is there: refused before its payload arrives.
        let mut buf = frame(true, TEXT, &vec![b'a'; 1 << 20]);
        buf.truncate(14);
        assert_eq!(
            Reader::new(64 * 1024).next(&mut buf),
            Err(FrameError::TooBig)
        );
        // Fragments add up.
        let mut buf = frame(false, TEXT, &[b'a'; 600]);
        buf.extend(frame(true, CONTINUATION, &[b'a'; 600]));
        assert_eq!(
            read_all(&mut Reader::new(1000), buf),
            Err(FrameError::TooBig)
        );
        let exact = frame(true, TEXT, &[b'a'; 1000]);
        assert_eq!(read_all(&mut Reader::new(1000), exact).unwrap().len(), 1);
    }

    #[test]
    fn protocol_errors() {
        let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
            ("unmasked", vec![0x81, 0x00], FrameError::Protocol("")),
            (
                "rsv bit",
                vec![0xC1, 0x80, 0, 0, 0, 0],
                FrameError::Protocol(""),
            ),
            ("opcode 3", frame(true, 3, b""), FrameError::Protocol("")),
            (
                "fragmented ping",
                frame(false, PING, b""),
                FrameError::Protocol(""),
            ),
            (
                "long ping",
                frame(true, PING, &[0; 126]),
                FrameError::Protocol(""),
            ),
            (
                "stray continuation",
                frame(true, CONTINUATION, b"x"),
                FrameError::Protocol(""),
            ),
            (
                "text inside a fragmented text",
                [frame(false, TEXT, b"a"), frame(true, TEXT, b"b")].concat(),
                FrameError::Protocol(""),
            ),
            (
                "one-byte close",
                frame(true, CLOSE, &[3]),
                FrameError::Protocol(""),
            ),
            (
                "close code 1005",
                frame(true, CLOSE, &1005u16.to_be_bytes()),
                FrameError::Protocol(""),
            ),
            (
                "bad utf-8",
                frame(true, TEXT, &[0xff, 0xfe]),
                FrameError::BadUtf8,
            ),
            (
                "bad utf-8 across fragments",
                [
                    frame(false, TEXT, &[0xe2, 0x82]),
                    frame(true, CONTINUATION, b"x"),
                ]
                .concat(),
                FrameError::BadUtf8,
            ),
        ];
        for (name, bytes, want) in cases {
            let got = read_all(&mut Reader::new(1024), bytes).unwrap_err();
            assert_eq!(
                got.close_code(),
                want.close_code(),
                "{name}: {got:?} instead of {want:?}"
            );
        }
    }

    #[test]
    fn headers_out() {
        let mut h = [0u8; MAX_HEADER];
        assert_eq!(header(TEXT, 5, &mut h), 2);
        assert_eq!(h[..2], [0x81, 5]);
        assert_eq!(header(TEXT, 300, &mut h), 4);
        assert_eq!(h[..4], [0x81, 126, 1, 44]);
        assert_eq!(header(BINARY, 70_000, &mut h), 10);
        assert_eq!(h[..10], [0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        let long = "é".repeat(100);
        let p = close_payload(4008, &long);
        assert!(p.len() <= 125 && std::str::from_utf8(&p[2..]).is_ok());
    }

    #[test]
    fn binary_content_is_not_kept_but_counted() {
        let got = read_all(&mut Reader::new(10), frame(true, BINARY, &[1; 10])).unwrap();
        assert_eq!(got, [Incoming::Binary]);
        assert_eq!(
            Reader::new(10).next(&mut frame(true, BINARY, &[1; 11])),
            Err(FrameError::TooBig)
        );
    }
}
