//! The GOVERN filter matcher: `FilterFields::extract_raw`, `FilterFields::extract`, `Filters::matches`.
//!
//! Input (UTF-8 text, split at the first two line feeds):
//!
//! ```text
//! <event type>
//! <severities>;<types>;<systems>;<events>
//! <payload, the rest of the input>
//! ```
//!
//! Each filter list is comma-separated (an empty segment is an empty list); a value `$N` is the
//! event's own value number N (modulo their count; severity, type, systems…, event type), so
//! matches are common. E.g. `alert.new\ncritical,high;$1;;alert.new\n{"severity":"high"}`.
//!
//! Invariants (protocol.md §4):
//! * `extract_raw(payload) == extract(&value)` whenever the payload parses as a JSON object, and a
//!   payload that is JSON but not an object has no fields;
//! * `matches` never panics and agrees with a direct reading of the table: within a list any value
//!   matches, across lists all must, a missing field never matches a non-empty list;
//! * empty filters match everything; filters built from the event's own fields match it;
//! * filters survive a GOVERN subscribe message unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use socfeed_proto::govern::{self, ClientMsg};
use socfeed_proto::{FilterFields, Filters};

/// protocol.md §4's table, read directly.
fn reference(f: &Filters, event_type: &str, ff: &FilterFields) -> bool {
    fn list_ok(list: &[String], values: &[&str]) -> bool {
        list.is_empty() || list.iter().any(|x| values.contains(&x.as_str()))
    }
    let systems: Vec<&str> = ff.systems.iter().map(|s| &**s).collect();
    list_ok(&f.events, &[event_type])
        && list_ok(&f.severities, ff.severity.as_deref().as_slice())
        && list_ok(&f.types, ff.kind.as_deref().as_slice())
        && list_ok(&f.systems, &systems)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\n');
    let et = parts.next().unwrap_or("");
    let spec = parts.next().unwrap_or("");
    let payload = parts.next().unwrap_or("");

    let fields = FilterFields::extract_raw(payload);
    match serde_json::from_str::<Value>(payload) {
        Ok(v) if v.is_object() => assert_eq!(
            fields,
            FilterFields::extract(&v),
            "extract_raw and extract disagree on {payload:?}"
        ),
        Ok(_) => assert_eq!(
            fields,
            FilterFields::default(),
            "fields from a non-object {payload:?}"
        ),
        Err(_) => {}
    }
    assert!(fields.systems.len() <= 3);

    let mut own: Vec<&str> = Vec::new();
    own.extend(fields.severity.as_deref());
    own.extend(fields.kind.as_deref());
    own.extend(fields.systems.iter().map(|s| &**s));
    own.push(et);
    let mut lists = spec.split(';').map(|seg| -> Vec<String> {
        if seg.is_empty() {
            return Vec::new();
        }
        seg.split(',')
            .map(
                |v| match v.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) {
                    Some(i) => own[i % own.len()].to_owned(),
                    None => v.to_owned(),
                },
            )
            .collect()
    });
    let filters = Filters {
        severities: lists.next().unwrap_or_default(),
        types: lists.next().unwrap_or_default(),
        systems: lists.next().unwrap_or_default(),
        events: lists.next().unwrap_or_default(),
    };

    let m = filters.matches(et, &fields);
    assert_eq!(
        m,
        reference(&filters, et, &fields),
        "{filters:?} on {et:?} {fields:?}"
    );
    assert!(Filters::default().matches(et, &fields));

    // Filters naming the event's own values match it (each of its systems on its own).
    let mut mine = Filters {
        severities: fields.severity.iter().map(|s| s.to_string()).collect(),
        types: fields.kind.iter().map(|s| s.to_string()).collect(),
        systems: Vec::new(),
        events: vec![et.to_owned()],
    };
    assert!(mine.matches(et, &fields), "{mine:?} on {et:?} {fields:?}");
    for s in &fields.systems {
        mine.systems = vec![s.to_string()];
        assert!(mine.matches(et, &fields), "{mine:?} on {et:?} {fields:?}");
    }
    // Adding the event's own values to the non-empty fuzzed lists keeps a match.
    let mut widened = filters.clone();
    for (list, own) in [
        (&mut widened.severities, &mine.severities),
        (&mut widened.types, &mine.types),
        (&mut widened.systems, &mine.systems),
        (&mut widened.events, &mine.events),
    ] {
        if !list.is_empty() {
            list.extend(own.iter().cloned());
        }
    }
    if m {
        assert!(widened.matches(et, &fields));
    }

    // The same filters, sent by a GOVERN client, parse back unchanged.
    let msg = format!(
        r#"{{"action":"subscribe","filters":{}}}"#,
        serde_json::to_string(&filters).expect("filters serialise")
    );
    assert_eq!(
        govern::parse_client(&msg),
        Ok(ClientMsg::Subscribe { filters })
    );
});
