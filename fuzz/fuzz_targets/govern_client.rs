//! `socfeed_proto::govern::parse_client`: one text frame from a GOVERN client.
//!
//! Invariants: never panics; only a JSON object is accepted, and only with `action` `subscribe`
//! or `pong` (protocol.md §4); the filters of an accepted subscribe are exactly the lists in the
//! text (absent or `null` = empty); filters survive the `feed.subscribed` ack and a re-encoded
//! subscribe unchanged; the `error` reply built from a refusal is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use socfeed_fuzz::starts_object;
use socfeed_proto::Filters;
use socfeed_proto::govern::{self, ClientMsg};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match govern::parse_client(text) {
        Ok(msg) => accepted(text, msg),
        Err(m) => {
            assert!(!m.is_empty());
            let reply: Value = serde_json::from_str(&govern::error("bad_request", &m, 1))
                .expect("error reply is JSON");
            assert_eq!(reply["data"]["message"], m.as_str());
        }
    }
});

fn accepted(text: &str, msg: ClientMsg) {
    assert!(
        starts_object(text),
        "accepted a message that is not a JSON object: {text:?}"
    );
    // Unknown fields are refused, so everything in an accepted message is a string, a list of
    // strings or an object of them: the text must fit a `Value`.
    let v: Value = serde_json::from_str(text).expect("an accepted message is JSON");
    let obj = v.as_object().expect("an accepted message is an object");
    assert!(
        obj.keys().all(|k| k == "action" || k == "filters"),
        "{text:?}"
    );
    match msg {
        ClientMsg::Pong => assert_eq!(v["action"], "pong"),
        ClientMsg::Subscribe { filters } => {
            assert_eq!(v["action"], "subscribe");
            let list = |k: &str| -> Vec<String> {
                match v.get("filters").and_then(|f| f.get(k)) {
                    None => Vec::new(),
                    Some(l) => l
                        .as_array()
                        .unwrap_or_else(|| panic!("filter {k} accepted as a non-list: {text:?}"))
                        .iter()
                        .map(|s| s.as_str().expect("filter values are strings").to_owned())
                        .collect(),
                }
            };
            match v.get("filters") {
                None | Some(Value::Null) => assert!(filters.is_empty()),
                Some(Value::Object(f)) => assert!(
                    f.keys().all(|k| matches!(
                        k.as_str(),
                        "severities" | "types" | "systems" | "events"
                    )),
                    "{text:?}"
                ),
                Some(other) => panic!("`filters` accepted as {other}: {text:?}"),
            }
            assert_eq!(filters.severities, list("severities"));
            assert_eq!(filters.types, list("types"));
            assert_eq!(filters.systems, list("systems"));
            assert_eq!(filters.events, list("events"));
            check_round_trips(&filters);
        }
    }
}

fn check_round_trips(filters: &Filters) {
    let again = format!(
        r#"{{"action":"subscribe","filters":{}}}"#,
        serde_json::to_string(filters).expect("filters serialise")
    );
    assert_eq!(
        govern::parse_client(&again),
        Ok(ClientMsg::Subscribe {
            filters: filters.clone()
        })
    );
    let ack: Value = serde_json::from_str(&govern::subscribed(filters, 1)).expect("ack is JSON");
    assert_eq!(ack["event"], "feed.subscribed");
    let echoed: Filters =
        serde_json::from_value(ack["data"]["filters"].clone()).expect("ack filters parse back");
    assert_eq!(&echoed, filters);
}
