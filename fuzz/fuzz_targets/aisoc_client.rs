//! `socfeed_proto::aisoc::parse_client`: one text frame from an AiSOC client.
//!
//! Invariants: never panics; only a JSON object is accepted (protocol.md §3: "not an object" is
//! `bad_request`); an accepted channel satisfies the documented charset; the fields of an accepted
//! message are the ones in the text; re-encoding an accepted message parses back to the same
//! message; every reply the server builds from the outcome is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use socfeed_fuzz::{is_channel_name, starts_object};
use socfeed_proto::aisoc::{self, ClientMsg, ErrorCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match aisoc::parse_client(text) {
        Ok(msg) => accepted(text, msg),
        Err(e) => {
            assert!(!e.message.is_empty());
            assert_ne!(
                e.code,
                ErrorCode::ForbiddenChannel,
                "the parser knows no allow-list"
            );
            let reply: Value =
                serde_json::from_str(&aisoc::error(&e)).expect("error reply is JSON");
            assert_eq!(reply["type"], "error");
            assert_eq!(reply["payload"]["code"], e.code.as_str());
            assert_eq!(reply["payload"]["message"], e.message.as_str());
        }
    }
});

fn accepted(text: &str, msg: ClientMsg) {
    assert!(
        starts_object(text),
        "accepted a message that is not a JSON object: {text:?}"
    );
    // Unknown fields are skipped unparsed, so the whole text need not fit a `Value`
    // (e.g. a lone surrogate in an ignored field); compare fields only when it does.
    let v: Option<Value> = serde_json::from_str(text).ok();
    if let Some(v) = &v {
        assert!(v.is_object());
    }
    let kind = |k: &str| {
        if let Some(v) = &v {
            assert_eq!(v["type"], k, "{text:?}");
        }
    };
    match &msg {
        ClientMsg::Subscribe {
            channel,
            since,
            epoch,
        } => {
            kind("subscribe");
            check_channel(channel.as_str());
            if let Some(v) = &v {
                assert_eq!(v["channel"], channel.as_str());
                assert_eq!(v.get("since").and_then(Value::as_u64), *since);
                assert_eq!(v.get("epoch").and_then(Value::as_str), epoch.as_deref());
            }
            let again = json!({"type": "subscribe", "channel": channel.as_str(), "since": since, "epoch": epoch});
            assert_eq!(aisoc::parse_client(&again.to_string()).as_ref(), Ok(&msg));
            let ack: Value = serde_json::from_str(&aisoc::subscribed(
                channel,
                since.unwrap_or(0),
                epoch.as_deref(),
                true,
            ))
            .expect("ack is JSON");
            assert_eq!(ack["payload"]["channel"], channel.as_str());
            assert_eq!(ack["payload"]["epoch"].as_str(), epoch.as_deref());
        }
        ClientMsg::Unsubscribe { channel } => {
            kind("unsubscribe");
            check_channel(channel.as_str());
            if let Some(v) = &v {
                assert_eq!(v["channel"], channel.as_str());
            }
            let again = json!({"type": "unsubscribe", "channel": channel.as_str()});
            assert_eq!(aisoc::parse_client(&again.to_string()).as_ref(), Ok(&msg));
            let ack: Value =
                serde_json::from_str(&aisoc::unsubscribed(channel)).expect("ack is JSON");
            assert_eq!(ack["payload"]["channel"], channel.as_str());
        }
        ClientMsg::Pong => kind("pong"),
    }
}

fn check_channel(name: &str) {
    assert!(is_channel_name(name), "accepted channel {name:?}");
    let ch = socfeed_proto::Channel::parse(name).expect("an accepted channel re-parses");
    assert_eq!(ch.is_all(), name == "all");
}
