//! Event time: unix milliseconds inside, RFC 3339 UTC with milliseconds on the AiSOC wire.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Renders unix milliseconds as `2026-05-03T10:00:00.123Z`.
pub fn rfc3339_millis(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339_millis(&mut out, ms);
    out
}

/// Appends unix milliseconds as `2026-05-03T10:00:00.123Z` to `out`.
pub fn write_rfc3339_millis(out: &mut String, ms: i64) {
    use std::fmt::Write;
    let nanos = i128::from(ms) * 1_000_000;
    let dt = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    );
}

/// Parses an RFC 3339 timestamp with any offset into unix milliseconds (sub-millisecond digits are cut).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_in_utc() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_744_123_456_789),
            "2025-04-08T14:44:16.789Z"
        );
    }

    #[test]
    fn parses_offsets_and_normalises() {
        let ms = parse_rfc3339("2026-04-12T16:23:10.5+02:00").unwrap();
        assert_eq!(rfc3339_millis(ms), "2026-04-12T14:23:10.500Z");
        assert_eq!(
            parse_rfc3339("2026-04-12T14:23:10Z"),
            Some(1_776_003_790_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
