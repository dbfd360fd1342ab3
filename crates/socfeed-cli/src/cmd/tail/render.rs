//! One terminal line per event: time, seq, severity, type, a summary from the payload, coloured
//! by severity. Payload text is untrusted: control characters are escaped, never sent to the
//! terminal.

use serde_json::Value;
use socfeed_proto::{Event, timefmt};

const RESET: &str = "\x1b[0m";
/// Longest summary shown.
const SUMMARY: usize = 100;

/// The ANSI colour of a severity.
fn colour_of(severity: &str) -> &'static str {
    match severity {
        "critical" => "\x1b[1;35m",
        "high" => "\x1b[31m",
        "medium" => "\x1b[33m",
        "low" => "\x1b[36m",
        _ => "\x1b[2m",
    }
}

/// `14:23:10.123  #42  HIGH      alert.created  Password spraying on vpn-gw  [vpn-gw]`
pub(super) fn line(e: &Event, colour: bool) -> String {
    let payload: Value = serde_json::from_str(e.payload.get()).unwrap_or(Value::Null);
    let text = |key: &str| payload.get(key).and_then(Value::as_str);
    let severity = text("severity").unwrap_or("-");
    let summary = ["title", "name", "message", "summary", "description"]
        .iter()
        .find_map(|k| text(k))
        .map_or_else(|| payload.to_string(), String::from);
    let system = payload
        .get("ai_system")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .or_else(|| text("system_name"))
        .or_else(|| text("system_id"));
    let time = timefmt::rfc3339_millis(e.ts);
    let mut out = format!(
        "{}  #{:<6} {:<8}  {:<24} {}",
        time.get(11..23).unwrap_or(&time),
        e.seq,
        clean(&severity.to_uppercase(), 8),
        clean(&e.event_type, 128),
        clean(&summary, SUMMARY),
    );
    if let Some(s) = system {
        out.push_str(&format!("  [{}]", clean(s, 64)));
    }
    if colour {
        format!("{}{out}{RESET}", colour_of(severity))
    } else {
        out
    }
}

/// At most `max` characters, control characters (ESC included) escaped.
fn clean(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;
    use socfeed_proto::TenantId;

    fn event(payload: &str) -> Event {
        Event {
            id: "evt_1".into(),
            seq: 42,
            tenant_id: TenantId::parse("acme").unwrap(),
            event_type: "alert.created".into(),
            payload: RawValue::from_string(payload.into()).unwrap(),
            ts: 1_744_467_790_123,
        }
    }

    #[test]
    fn plain_and_coloured() {
        let e = event(r#"{"title":"Password spraying","severity":"high","system_name":"vpn-gw"}"#);
        let plain = line(&e, false);
        assert_eq!(
            plain,
            "14:23:10.123  #42     HIGH      alert.created            Password spraying  [vpn-gw]"
        );
        assert_eq!(line(&e, true), format!("\x1b[31m{plain}\x1b[0m"));
    }

    #[test]
    fn untrusted_text_cannot_drive_the_terminal() {
        let e = event(r#"{"title":"a\u001b[2Jb\nc"}"#);
        let l = line(&e, false);
        assert!(!l.contains('\x1b') && !l.contains('\n'), "{l:?}");
        assert!(l.contains(r"a\u{1b}[2Jb\nc"), "{l:?}");
        assert!(line(&event(r#"{"n":1}"#), false).ends_with(r#"{"n":1}"#));
    }
}
