//! Helpers shared by the fuzz targets: the protocol's rules restated independently of
//! `socfeed-proto`, so a target can check what the parsers accept against docs/protocol.md.

/// Skips JSON whitespace (RFC 8259: space, tab, LF, CR) — and nothing else.
pub fn json_trim_start(s: &str) -> &str {
    s.trim_start_matches([' ', '\t', '\n', '\r'])
}

/// `true` when the text's first JSON token opens an object.
pub fn starts_object(s: &str) -> bool {
    json_trim_start(s).starts_with('{')
}

fn name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
}

/// protocol.md §1: a channel name is 1–64 characters of `a-z`, `0-9`, `_`, `-`.
pub fn is_channel_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(name_byte)
}

/// protocol.md §1: event types are 1–128 characters, dot-separated non-empty segments of
/// `a-z`, `0-9`, `_`, `-`.
pub fn is_event_type(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.split('.')
            .all(|seg| !seg.is_empty() && seg.bytes().all(name_byte))
}

/// A tenant id: 1–128 characters of ASCII letters, digits and `_ - . : @`.
pub fn is_tenant_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@'))
}

/// protocol.md §5: `id` is 1–128 characters without spaces or control characters.
pub fn is_event_id(s: &str) -> bool {
    let n = s.chars().count();
    (1..=128).contains(&n) && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the AiSOC wire form of a time (shape only).
pub fn is_rfc3339_millis_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// `true` when `s` is one complete JSON text (syntax only; numbers of any size are fine).
pub fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}
