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

/// The earliest time [`rfc3339_millis`] can render: `0000-01-01T00:00:00.000Z`.
pub const MIN_MS: i64 = -62_167_219_200_000;
/// The latest time [`rfc3339_millis`] can render: `9999-12-31T23:59:59.999Z`.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Parses an RFC 3339 timestamp with any offset into unix milliseconds (sub-millisecond digits
/// are cut, also before 1970). `None` when the instant in UTC falls outside years 0000–9999
/// ([`MIN_MS`]..=[`MAX_MS`]), which RFC 3339 UTC cannot write: `9999-12-31T23:59:59-01:00`
/// is in year 10000.
///
/// Date and time are separated by `T`, `t` or a space (RFC 3339 §5.6 and its note); the `time`
/// crate alone takes any byte there (`2026-04-12D14:23:10Z`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    let ms = i64::try_from(dt.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
    (MIN_MS..=MAX_MS).contains(&ms).then_some(ms)
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

    /// Before 1970 the cut sub-millisecond digits rounded up (toward zero), to a later instant.
    #[test]
    fn cuts_sub_millis_before_1970_too() {
        let ms = parse_rfc3339("1969-12-31T23:59:59.9995Z").unwrap();
        assert_eq!(ms, -1);
        assert_eq!(rfc3339_millis(ms), "1969-12-31T23:59:59.999Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.0009Z"), Some(0));
    }

    /// Everything `parse_rfc3339` returns renders and parses back unchanged.
    #[test]
    fn range_ends_round_trip() {
        for ms in [MIN_MS, -1, 0, MAX_MS] {
            assert_eq!(parse_rfc3339(&rfc3339_millis(ms)), Some(ms), "{ms}");
        }
        assert_eq!(rfc3339_millis(MIN_MS), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00+00:01"), None);
    }

    /// Found by fuzzing (`publish_body`): any byte between date and time was taken.
    #[test]
    fn separator_is_t_or_space() {
        let ms = Some(1_776_003_790_000);
        assert_eq!(parse_rfc3339("2026-04-12T14:23:10Z"), ms);
        assert_eq!(parse_rfc3339("2026-04-12t14:23:10z"), ms);
        assert_eq!(parse_rfc3339("2026-04-12 14:23:10Z"), ms);
        for bad in [
            "2026-04-12D14:23:10Z",
            "2026-04-12_14:23:10Z",
            "1969-12-31D23:59:50.9995Z",
            "2026-04-1214:23:10Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
